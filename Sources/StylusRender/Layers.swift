import Foundation
import StylusML

// Renderer layers over StylusML's Tensor and gemm. Activations are NCHW ([batch, channels,
// height, width]) for convolutions and token-major ([tokens, channels]) inside attention.

/// 2-D convolution as tiled im2col + sgemm: the column buffer covers a band of output rows at a
/// time (≤ `Conv2d.columnBudget` floats), so a 3×3 conv at 512² never needs gigabytes; 1×1
/// stride-1 convs are a single gemm on the input.
struct Conv2d: Sendable {
    static let columnBudget = 4 << 20  // floats (16 MB)
    let weight: WeightBuffer  // [out, in·kh·kw]
    let bias: WeightBuffer?
    let outChannels: Int, inChannels: Int, kernel: Int, stride: Int, padding: Int

    init(_ ckpt: Checkpoint, _ name: String, stride: Int = 1) throws {
        guard let s = ckpt.shape(name + ".weight"), s.count == 4 || s.count == 2 else {
            if ckpt.contains(name + ".weight") {
                throw RenderError.badWeight(path: ckpt.path, name: name + ".weight", reason: "is not a convolution kernel")
            }
            throw RenderError.missingWeight(path: ckpt.path, name: name + ".weight")
        }
        let k = s.count == 4 ? s[2] : 1
        guard s.count == 2 || s[2] == s[3] else {
            throw RenderError.badWeight(path: ckpt.path, name: name + ".weight", reason: "has a non-square kernel \(s)")
        }
        outChannels = s[0]
        inChannels = s[1]
        kernel = k
        self.stride = stride
        padding = k / 2
        weight = try ckpt.weight(name + ".weight", shape: [s[0], s[1] * k * k])
        bias = ckpt.contains(name + ".bias") ? try ckpt.weight(name + ".bias", shape: [s[0]]) : nil
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (b, c, h, w) = try dims(x, channels: inChannels)
        let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
        let kk = inChannels * kernel * kernel
        var out = Tensor(zeros: [b, outChannels, oh, ow])
        let direct = kernel == 1 && stride == 1
        let bandRows = max(1, min(oh, Self.columnBudget / max(1, kk * ow)))
        var columns = [Float](repeating: 0, count: direct ? 0 : kk * bandRows * ow)
        let wp = UnsafePointer(weight.pointer)
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            columns.withUnsafeMutableBufferPointer { cp in
                for n in 0..<b {
                    let input = xp.baseAddress! + n * c * h * w
                    let output = op.baseAddress! + n * outChannels * oh * ow
                    if let bias {
                        for o in 0..<outChannels {
                            let v = bias[o]
                            for i in 0..<(oh * ow) { output[o * oh * ow + i] = v }
                        }
                    }
                    if direct {
                        Kernels.gemm(m: outChannels, n: h * w, k: c, a: wp, lda: c, b: input, ldb: h * w,
                                     c: output, ldc: h * w, beta: 1)
                        continue
                    }
                    var y0 = 0
                    while y0 < oh {
                        let rows = min(bandRows, oh - y0)
                        im2col(input, h, w, y0, rows, ow, cp.baseAddress!)
                        Kernels.gemm(m: outChannels, n: rows * ow, k: kk, a: wp, lda: kk,
                                     b: cp.baseAddress!, ldb: rows * ow, c: output + y0 * ow, ldc: oh * ow, beta: 1)
                        y0 += rows
                    }
                }
            }
        } }
        return out
    }

    /// Column matrix [in·k·k, rows·ow] for output rows y0..<y0+rows.
    private func im2col(_ x: UnsafePointer<Float>, _ h: Int, _ w: Int, _ y0: Int, _ rows: Int, _ ow: Int,
                        _ col: UnsafeMutablePointer<Float>) {
        let n = rows * ow
        for c in 0..<inChannels {
            let plane = x + c * h * w
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let dst = col + ((c * kernel + ky) * kernel + kx) * n
                    for r in 0..<rows {
                        let iy = (y0 + r) * stride + ky - padding
                        let row = dst + r * ow
                        guard iy >= 0, iy < h else {
                            row.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = plane + iy * w
                        if stride == 1 {
                            // ix = ox + kx − padding: zeros where it leaves the row, a copy in between.
                            let lo = max(0, padding - kx), hi = min(ow, w + padding - kx)
                            if lo > 0 { row.update(repeating: 0, count: lo) }
                            if hi > lo { (row + lo).update(from: src + (lo + kx - padding), count: hi - lo) }
                            if hi < ow { (row + max(hi, lo)).update(repeating: 0, count: ow - max(hi, lo)) }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * stride + kx - padding
                                row[ox] = (ix >= 0 && ix < w) ? src[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }
}

func dims(_ x: Tensor, channels: Int? = nil) throws -> (Int, Int, Int, Int) {
    guard x.rank == 4 else { throw RenderError.invalidArgument("expected an NCHW tensor, got shape \(x.shape)") }
    if let channels, x.shape[1] != channels {
        throw RenderError.invalidArgument("expected \(channels) channels, got shape \(x.shape)")
    }
    return (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
}

/// GroupNorm over NCHW (32 groups in SD), optionally followed by SiLU.
struct GroupNorm: Sendable {
    let gamma: WeightBuffer, beta: WeightBuffer
    let groups: Int
    let epsilon: Float

    init(_ ckpt: Checkpoint, _ name: String, channels: Int, groups: Int = 32, epsilon: Float) throws {
        guard channels % groups == 0 else {
            throw RenderError.badWeight(path: ckpt.path, name: name + ".weight", reason: "has \(channels) channels, not a multiple of \(groups) groups")
        }
        gamma = try ckpt.weight(name + ".weight", shape: [channels])
        beta = try ckpt.weight(name + ".bias", shape: [channels])
        self.groups = groups
        self.epsilon = epsilon
    }

    func callAsFunction(_ x: Tensor, silu: Bool = false) throws -> Tensor {
        let (b, c, h, w) = try dims(x, channels: gamma.count)
        var out = x
        let per = c / groups, plane = h * w
        out.withUnsafeMutableBufferPointer { p in
            for n in 0..<b {
                for g in 0..<groups {
                    let base = p.baseAddress! + (n * c + g * per) * plane
                    let count = per * plane
                    var sum = 0.0
                    for i in 0..<count { sum += Double(base[i]) }
                    let mean = sum / Double(count)
                    var sq = 0.0
                    for i in 0..<count { let d = Double(base[i]) - mean; sq += d * d }
                    let inv = Float(1 / (sq / Double(count) + Double(epsilon)).squareRoot())
                    let m = Float(mean)
                    for ci in 0..<per {
                        let ch = g * per + ci
                        let scale = gamma[ch] * inv, shift = beta[ch] - m * scale
                        let row = base + ci * plane
                        if silu {
                            for i in 0..<plane { let v = row[i] * scale + shift; row[i] = v / (1 + Foundation.exp(-v)) }
                        } else {
                            for i in 0..<plane { row[i] = row[i] * scale + shift }
                        }
                    }
                }
            }
        }
        return out
    }
}

func silu(_ x: Tensor) -> Tensor {
    var out = x
    out.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] / (1 + Foundation.exp(-p[i])) } }
    return out
}

/// Nearest-neighbour 2× upsampling of NCHW.
func upsample2x(_ x: Tensor) throws -> Tensor {
    let (b, c, h, w) = try dims(x)
    var out = Tensor(zeros: [b, c, 2 * h, 2 * w])
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        for plane in 0..<(b * c) {
            let src = xp.baseAddress! + plane * h * w, dst = op.baseAddress! + plane * 4 * h * w
            for y in 0..<(2 * h) {
                let s = src + (y / 2) * w, d = dst + y * 2 * w
                for xx in 0..<(2 * w) { d[xx] = s[xx / 2] }
            }
        }
    } }
    return out
}

/// One batch item's [C, HW] plane ↔ token-major [HW, C].
func transposed(_ x: UnsafePointer<Float>, rows: Int, columns: Int) -> Tensor {
    var out = Tensor(zeros: [columns, rows])
    out.withUnsafeMutableBufferPointer { op in
        for r in 0..<rows { for c in 0..<columns { op[c * rows + r] = x[r * columns + c] } }
    }
    return out
}

/// Scaled dot-product attention, heads side by side in the columns of q [n, heads·d],
/// k and v [m, heads·d]. Queries go in blocks so at most `blockRows × m` scores exist at once
/// (8 heads × 4096² scores at 64² would be 512 MB).
func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> Tensor {
    let n = q.rows, m = k.rows, width = q.columns, d = width / heads
    let blockRows = max(1, min(n, (1 << 20) / max(1, m)))
    var out = Tensor(zeros: [n, width])
    var scores = [Float](repeating: 0, count: blockRows * m)
    let scale = 1 / Float(d).squareRoot()
    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
        out.withUnsafeMutableBufferPointer { op in scores.withUnsafeMutableBufferPointer { sp in
            for h in 0..<heads {
                var r0 = 0
                while r0 < n {
                    let rows = min(blockRows, n - r0)
                    Kernels.gemm(m: rows, n: m, k: d, a: qp.baseAddress! + r0 * width + h * d, lda: width,
                                 b: kp.baseAddress! + h * d, ldb: width, transposeB: true, c: sp.baseAddress!, ldc: m, alpha: scale)
                    softmaxRows(sp.baseAddress!, rows: rows, columns: m)
                    Kernels.gemm(m: rows, n: d, k: m, a: sp.baseAddress!, lda: m, b: vp.baseAddress! + h * d, ldb: width,
                                 c: op.baseAddress! + r0 * width + h * d, ldc: width)
                    r0 += rows
                }
            }
        } }
    } } }
    return out
}

/// Row softmax for attention scores. A plain loop over glibc's vectorised-by-the-compiler `expf`
/// measured ~7× faster here than StylusML's `Kernels.softmax` on 4096-wide rows (its SIMD closure
/// is not inlined across modules); attention at 64² spends most of its time in this loop.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    for r in 0..<rows {
        let row = x + r * columns
        var m = -Float.infinity
        for i in 0..<columns where row[i] > m { m = row[i] }
        var total: Float = 0
        for i in 0..<columns {
            let e = Foundation.expf(row[i] - m)
            row[i] = e
            total += e
        }
        let inv = 1 / total
        for i in 0..<columns { row[i] *= inv }
    }
}

/// A fully connected layer over shared checkpoint weights: `y = x · Wᵀ + b`, W is `[out, in]`.
struct Dense: Sendable {
    let weight: WeightBuffer
    let bias: WeightBuffer?
    let inputSize: Int, outputSize: Int

    /// `x · Wᵀ + b` for x of shape `[..., in]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var out = Tensor(zeros: Array(x.shape.dropLast()) + [outputSize])
        x.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in apply(input.baseAddress!, rows: x.rows, into: output.baseAddress!) }
        }
        return out
    }

    /// Pointer form: `rows × in` input, `rows × out` output, overwritten or with `accumulate`
    /// added to (`y += x · Wᵀ + b`) in one gemm pass.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rows > 0 else { return }
        var beta: Float = accumulate ? 1 : 0
        if let bias {
            // The bias goes into every row first; the gemm adds the product on top.
            if accumulate {
                Kernels.addRowVector(bias.pointer, to: y, rows: rows, columns: outputSize)
            } else {
                Kernels.broadcastRow(bias.pointer, to: y, rows: rows, columns: outputSize)
            }
            beta = 1
        }
        Kernels.gemm(m: rows, n: outputSize, k: inputSize, a: x, lda: inputSize,
                     b: weight.pointer, ldb: inputSize, transposeB: true, c: y, ldc: outputSize, beta: beta)
    }
}

func linear(_ ckpt: Checkpoint, _ name: String, bias: Bool = true) throws -> Dense {
    guard let s = ckpt.shape(name + ".weight") else { throw RenderError.missingWeight(path: ckpt.path, name: name + ".weight") }
    let out = s[0], inp = s.dropFirst().reduce(1, *)  // 1×1 convs used as linears
    return Dense(weight: try ckpt.weight(name + ".weight", shape: [out, inp]),
                 bias: bias && ckpt.contains(name + ".bias") ? try ckpt.weight(name + ".bias", shape: [out]) : nil,
                 inputSize: inp, outputSize: out)
}

/// LayerNorm over the last dimension with shared checkpoint weights.
struct LayerNorm: Sendable {
    let gamma: WeightBuffer, beta: WeightBuffer
    let epsilon: Float

    init(_ ckpt: Checkpoint, _ name: String, _ width: Int, epsilon: Float = 1e-5) throws {
        gamma = try ckpt.weight(name + ".weight", shape: [width])
        beta = try ckpt.weight(name + ".bias", shape: [width])
        self.epsilon = epsilon
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var out = x
        let rows = x.rows, columns = x.columns
        precondition(columns == gamma.count, "LayerNorm of width \(gamma.count) on \(x.shape)")
        out.withUnsafeMutableBufferPointer { p in
            Kernels.layerNorm(p.baseAddress!, rows: rows, columns: columns, gamma: gamma.pointer, beta: beta.pointer, epsilon: epsilon)
        }
        return out
    }
}
