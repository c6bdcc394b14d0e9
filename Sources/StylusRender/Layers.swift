import Foundation
import StylusML

// Renderer layers over StylusML's Tensor and gemm. Activations are NCHW ([batch, channels,
// height, width]) for convolutions and token-major ([tokens, channels]) inside attention.

/// 2-D convolution as tiled im2col + sgemm: the column buffer covers a band of output rows at a
/// time (≤ `Conv2d.columnBudget` floats per worker), so a 3×3 conv at 512² never needs gigabytes; 1×1
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
        let kk = inChannels * kernel * kernel, planeOut = oh * ow
        var out = Tensor(zeros: [b, outChannels, oh, ow])
        let wp = UnsafePointer(weight.pointer)
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            let input = UncheckedBox(xp.baseAddress!), output = UncheckedBox(op.baseAddress!)
            if let bias {
                Kernels.parallelFor(b * outChannels, minimumChunk: 64) { planes in
                    for p in planes { (output.value + p * planeOut).update(repeating: bias[p % outChannels], count: planeOut) }
                }
            }
            if kernel == 1 && stride == 1 {
                for n in 0..<b {
                    Kernels.gemm(m: outChannels, n: h * w, k: c, a: wp, lda: c, b: input.value + n * c * h * w, ldb: h * w,
                                 c: output.value + n * outChannels * planeOut, ldc: planeOut, beta: 1)
                }
                return
            }
            // Bands of output rows whose column matrix fits the budget, a multiple of the core count.
            let cores = Kernels.threadCount
            let minimumBands = (oh * kk * ow + Self.columnBudget - 1) / Self.columnBudget
            let bands = min(oh, (minimumBands + cores - 1) / cores * cores)
            let bandRows = (oh + bands - 1) / bands
            let count = (oh + bandRows - 1) / bandRows
            // Large images: one band per task on each core (im2col runs in parallel too, and each
            // core packs only its own columns). Small ones, where the weights outweigh the image:
            // bands in turn, each gemm split over the cores.
            let perCore = b * planeOut >= 4 * outChannels
            forEachTask(b * count, scratch: kk * bandRows * ow, workers: perCore ? cores : 1) { task, columns in
                let n = task / count, y0 = (task % count) * bandRows, rows = min(bandRows, oh - y0)
                im2col(input.value + n * c * h * w, h, w, y0, rows, ow, columns)
                Kernels.gemm(m: outChannels, n: rows * ow, k: kk, a: wp, lda: kk, b: columns, ldb: rows * ow,
                             c: output.value + n * outChannels * planeOut + y0 * ow, ldc: planeOut, beta: 1, parallel: !perCore)
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
        var out = Tensor(uninitialized: x.shape)
        let per = c / groups, plane = h * w
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { p in
            let source = UncheckedBox(xp.baseAddress!), base = UncheckedBox(p.baseAddress!)
            // One task per (image, group): both cores, vectorised statistics and SiLU.
            Kernels.parallelFor(b * groups) { tasks in
                for task in tasks {
                    let g = task % groups, offset = task * per * plane
                    let (mean, variance) = Kernels.meanVariance(source.value + offset, count: per * plane)
                    let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
                    for ci in 0..<per {
                        let scale = gamma[g * per + ci] * inv, shift = beta[g * per + ci] - Float(mean) * scale
                        Kernels.scaleShift(source.value + offset + ci * plane, into: base.value + offset + ci * plane,
                                           count: plane, scale: scale, shift: shift, silu: silu)
                    }
                }
            }
        } }
        return out
    }
}

func silu(_ x: Tensor) -> Tensor {
    var out = x
    out.withUnsafeMutableBufferPointer { Kernels.silu($0.baseAddress!, count: $0.count) }
    return out
}

/// Carries pointers and closures into parallel tasks that write disjoint parts of a buffer or
/// run to completion before the call returns.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Nearest-neighbour 2× upsampling of NCHW, planes spread over the cores.
func upsample2x(_ x: Tensor) throws -> Tensor {
    let (b, c, h, w) = try dims(x)
    var out = Tensor(uninitialized: [b, c, 2 * h, 2 * w])
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        let source = UncheckedBox(xp.baseAddress!), target = UncheckedBox(op.baseAddress!)
        Kernels.parallelFor(b * c, minimumChunk: 8) { planes in
            for plane in planes {
                let src = source.value + plane * h * w, dst = target.value + plane * 4 * h * w
                for y in 0..<h {
                    let s = src + y * w, d = dst + 2 * y * 2 * w
                    for xx in 0..<w { d[2 * xx] = s[xx]; d[2 * xx + 1] = s[xx] }
                    (d + 2 * w).update(from: d, count: 2 * w)
                }
            }
        }
    } }
    return out
}

/// `x += y` for same-shaped tensors (residual connections), over the cores.
func addInPlace(_ x: inout Tensor, _ y: Tensor) {
    precondition(x.shape == y.shape, "residual \(y.shape) does not match \(x.shape)")
    x.withUnsafeMutableBufferPointer { xp in y.withUnsafeBufferPointer { yp in
        let target = UncheckedBox(xp.baseAddress!), source = UncheckedBox(yp.baseAddress!)
        let chunk = 1 << 16, count = xp.count
        Kernels.parallelFor((count + chunk - 1) / chunk, minimumChunk: 4) { chunks in
            let start = chunks.lowerBound * chunk, end = min(count, chunks.upperBound * chunk)
            Kernels.add(source.value + start, into: target.value + start, count: end - start)
        }
    } }
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
/// k and v [m, heads·d]. Work goes in (head, block of query rows) tasks spread over the cores,
/// each with its own `blockRows × m` scores (8 heads × 4096² scores at 64² would be 512 MB); the
/// softmax normalisation is applied to the d outputs instead of the m probabilities.
func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> Tensor {
    let n = q.rows, m = k.rows, width = q.columns, d = width / heads
    let blockRows = max(1, min(n, (1 << 18) / max(1, m)))
    let blocks = (n + blockRows - 1) / blockRows
    var out = Tensor(zeros: [n, width])
    let scale = 1 / Float(d).squareRoot()
    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
        out.withUnsafeMutableBufferPointer { op in
            let q = UncheckedBox(UnsafeMutablePointer(mutating: qp.baseAddress!))
            let k = UncheckedBox(UnsafeMutablePointer(mutating: kp.baseAddress!))
            let v = UncheckedBox(UnsafeMutablePointer(mutating: vp.baseAddress!))
            let o = UncheckedBox(op.baseAddress!)
            forEachTask(heads * blocks, scratch: blockRows * (m + 1)) { task, scores in
                let h = task / blocks, r0 = (task % blocks) * blockRows, rows = min(blockRows, n - r0)
                let sums = scores + blockRows * m
                Kernels.gemm(m: rows, n: m, k: d, a: q.value + r0 * width + h * d, lda: width,
                             b: k.value + h * d, ldb: width, transposeB: true, c: scores, ldc: m, alpha: scale, parallel: false)
                softmaxRows(scores, rows: rows, columns: m, sums: sums)
                let output = o.value + r0 * width + h * d
                Kernels.gemm(m: rows, n: d, k: m, a: scores, lda: m, b: v.value + h * d, ldb: width,
                             c: output, ldc: width, parallel: false)
                for r in 0..<rows { Kernels.scale(output + r * width, count: d, by: 1 / sums[r]) }
            }
        }
    } } }
    return out
}

/// Runs `body(task, scratch)` for tasks 0..<count on `workers` threads that take the
/// next task when done (cores shared with other programs finish unevenly); each worker has its own
/// scratch buffer of `scratch` floats.
func forEachTask(_ count: Int, scratch: Int, workers: Int = Kernels.threadCount, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next - 1 }
    }
    if workers <= 1 || count <= 1 {  // on this thread, so the body's own parallel work can use every core
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch))
        defer { buffer.deallocate() }
        for task in 0..<count { body(task, buffer) }
        return
    }
    let counter = Counter()
    withoutActuallyEscaping(body) { body in
        let work = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch))
            defer { buffer.deallocate() }
            while case let task = counter.take(), task < count { work.value(task, buffer) }
        }
    }
}

/// Row softmax for attention scores without the final division: rows become exp(x − max) and
/// `sums[r]` their total.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, sums: UnsafeMutablePointer<Float>) {
    for r in 0..<rows { sums[r] = Kernels.softmaxNumerators(x + r * columns, count: columns) }
}

/// Keeps freed activation buffers in the process for reuse (glibc returns blocks above 128 KB to
/// the kernel at once, and every layer's fresh tensors then cost page faults and zeroing: ~6% of
/// a UNet step). Set once, when the first model is built.
enum ActivationMemory {
    static let reuse: Void = {
        #if os(Linux)
        // glibc's mallopt (malloc.h is not in Swift's Glibc module): M_TRIM_THRESHOLD −1, M_MMAP_THRESHOLD −3.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-3, 1 << 30)
        _ = mallopt(-1, 1 << 30)
        #endif
    }()
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
