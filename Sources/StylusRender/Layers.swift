import Foundation
import StylusML

// Renderer layers over StylusML's Tensor and gemm. Activations are NCHW ([batch, channels,
// height, width]) for convolutions and token-major ([tokens, channels]) inside attention.

/// 16-bit values (bf16 bits) owned by a class, so a weight can keep them (`WeightBuffer.derived`).
final class HalfBuffer: @unchecked Sendable {
    let values: UnsafeMutablePointer<UInt16>
    init(count: Int) { values = .allocate(capacity: max(1, count)) }
    deinit { values.deallocate() }
}

/// 2-D convolution. 3×3 stride-1 convs on images with enough output tiles use Winograd F(2×2, 3×3)
/// (`Kernels.winogradConv3x3`, 2.25× fewer multiplies); the others tiled im2col + sgemm: the column
/// buffer covers a band of output rows at a time (≤ `Conv2d.columnBudget` floats per worker), so a
/// 3×3 conv at 512² never needs gigabytes; 1×1 stride-1 convs are a single gemm on the input.
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
        weight = try ckpt.weight(name + ".weight", shape: [s[0], s[1] * k * k], keepHalf: true)
        bias = ckpt.contains(name + ".bias") ? try ckpt.weight(name + ".bias", shape: [s[0]]) : nil
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Profile.measure(kernel == 1 ? "conv1x1" : "conv\(kernel)x\(kernel)" + (stride > 1 ? " s\(stride)" : ""),
                            "\(inChannels)→\(outChannels) \(x.shape.dropFirst(2).map(String.init).joined(separator: "x"))") { try run(x) }
    }

    private func run(_ x: Tensor) throws -> Tensor {
        let (b, c, h, w) = try dims(x, channels: inChannels)
        if weight.computesInBF16 { return runBF16(x, b, c, h, w) }
        return weight.withFloats { wp in run(x, b, c, h, w, wp) }
    }

    /// The bf16 path: Winograd with bf16 products where it pays off; otherwise the input rounded to
    /// bf16 once, then one product per batch item (1×1) or per band of output rows over bf16
    /// columns. The products run on every core, one at a time, so im2col is split over the cores
    /// by channel.
    private func runBF16(_ x: Tensor, _ b: Int, _ c: Int, _ h: Int, _ w: Int) -> Tensor {
        let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
        let kk = inChannels * kernel * kernel, planeOut = oh * ow
        var out = Tensor(uninitialized: [b, outChannels, oh, ow])
        let wp = UnsafePointer(weight.halves)
        if kernel == 3 && stride == 1 && padding == 1
            && Kernels.winogradPaysOff(tiles: b * ((oh + 1) / 2) * ((ow + 1) / 2), inChannels: c, outChannels: outChannels) {
            let (k, inputs) = (outChannels, inChannels)
            let transformed = weight.derived("winograd-bf16") {
                let u = HalfBuffer(count: 16 * k * inputs)
                Kernels.winogradWeightsBF16(wp, outChannels: k, inChannels: inputs, into: u.values)
                return u
            }
            x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                Kernels.winogradConv3x3BF16(xp.baseAddress!, batch: b, inChannels: c, height: h, width: w, transformed: transformed.values,
                                            outChannels: outChannels, bias: bias.map { UnsafePointer($0.pointer) }, out: op.baseAddress!)
            } }
            return out
        }
        let input = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, x.count))
        defer { input.deallocate() }
        x.withUnsafeBufferPointer { BFloat16Compute.narrow($0.baseAddress!, count: x.count, into: input) }
        out.withUnsafeMutableBufferPointer { op in
            let output = UncheckedBox(op.baseAddress!)
            if let bias {
                Kernels.parallelFor(b * outChannels, minimumChunk: 64) { planes in
                    for p in planes { (output.value + p * planeOut).update(repeating: bias[p % outChannels], count: planeOut) }
                }
            }
            if kernel == 1 && stride == 1 {
                for n in 0..<b {
                    BFloat16Compute.gemm(m: outChannels, n: h * w, k: c, a: wp, lda: c, b: input + n * c * h * w, ldb: h * w,
                                         c: output.value + n * outChannels * planeOut, ldc: planeOut, accumulate: bias != nil)
                }
                return
            }
            let bandRows = max(1, min(oh, Self.columnBudget / max(1, kk * ow)))
            let columns = UnsafeMutablePointer<UInt16>.allocate(capacity: kk * bandRows * ow)
            defer { columns.deallocate() }
            let source = UncheckedBox(UnsafePointer(input)), column = UncheckedBox(columns)
            for n in 0..<b {
                var y0 = 0
                while y0 < oh {
                    let rows = min(bandRows, oh - y0), start = y0
                    Kernels.parallelFor(inChannels, minimumChunk: 8) { channels in
                        im2col(source.value + n * c * h * w, h, w, start, rows, ow, column.value, channels: channels, zero: UInt16(0))
                    }
                    BFloat16Compute.gemm(m: outChannels, n: rows * ow, k: kk, a: wp, lda: kk, b: columns, ldb: rows * ow,
                                         c: output.value + n * outChannels * planeOut + y0 * ow, ldc: planeOut, accumulate: bias != nil)
                    y0 += rows
                }
            }
        }
        return out
    }

    private func run(_ x: Tensor, _ b: Int, _ c: Int, _ h: Int, _ w: Int, _ wp: UnsafePointer<Float>) -> Tensor {
        let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
        let kk = inChannels * kernel * kernel, planeOut = oh * ow
        if kernel == 3 && stride == 1 && padding == 1
            && Kernels.winogradPaysOff(tiles: b * ((oh + 1) / 2) * ((ow + 1) / 2), inChannels: c, outChannels: outChannels) {
            var out = Tensor(uninitialized: [b, outChannels, oh, ow])
            x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                Kernels.winogradConv3x3(xp.baseAddress!, batch: b, inChannels: c, height: h, width: w, weights: wp,
                                        outChannels: outChannels, bias: bias.map { UnsafePointer($0.pointer) }, out: op.baseAddress!)
            } }
            return out
        }
        // The bias fills every output plane; without one the gemms accumulate onto zeros.
        var out = bias == nil ? Tensor(zeros: [b, outChannels, oh, ow]) : Tensor(uninitialized: [b, outChannels, oh, ow])
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
                im2col(input.value + n * c * h * w, h, w, y0, rows, ow, columns, channels: 0..<inChannels, zero: Float(0))
                Kernels.gemm(m: outChannels, n: rows * ow, k: kk, a: wp, lda: kk, b: columns, ldb: rows * ow,
                             c: output.value + n * outChannels * planeOut + y0 * ow, ldc: planeOut, beta: 1, parallel: !perCore)
            }
        } }
        return out
    }

    /// Column matrix [in·k·k, rows·ow] for output rows y0..<y0+rows (the rows of `channels`), in
    /// the input's element type (Float32, or bf16 bits).
    private func im2col<Element>(_ x: UnsafePointer<Element>, _ h: Int, _ w: Int, _ y0: Int, _ rows: Int, _ ow: Int,
                                 _ col: UnsafeMutablePointer<Element>, channels: Range<Int>, zero: Element) {
        let n = rows * ow
        for c in channels {
            let plane = x + c * h * w
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let dst = col + ((c * kernel + ky) * kernel + kx) * n
                    for r in 0..<rows {
                        let iy = (y0 + r) * stride + ky - padding
                        let row = dst + r * ow
                        guard iy >= 0, iy < h else {
                            row.update(repeating: zero, count: ow)
                            continue
                        }
                        let src = plane + iy * w
                        if stride == 1 {
                            // ix = ox + kx − padding: zeros where it leaves the row, a copy in between.
                            let lo = max(0, padding - kx), hi = min(ow, w + padding - kx)
                            if lo > 0 { row.update(repeating: zero, count: lo) }
                            if hi > lo { (row + lo).update(from: src + (lo + kx - padding), count: hi - lo) }
                            if hi < ow { (row + max(hi, lo)).update(repeating: zero, count: ow - max(hi, lo)) }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * stride + kx - padding
                                row[ox] = (ix >= 0 && ix < w) ? src[ix] : zero
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
        try Profile.measure("groupnorm", "\(x.shape)") { try run(x, silu: silu) }
    }

    private func run(_ x: Tensor, silu: Bool) throws -> Tensor {
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
    try Profile.measure("resample", "up2x \(x.shape)") { try upsample2xRun(x) }
}

private func upsample2xRun(_ x: Tensor) throws -> Tensor {
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

/// Nearest-neighbour resize of NCHW to height × width, PyTorch's `interpolate(size:, mode="nearest")`
/// index rule (source = ⌊destination · in/out⌋ in Float32, clamped): the UNet's upsamplers on
/// latents whose side is not a multiple of 2^levels.
func upsampleNearest(_ x: Tensor, height oh: Int, width ow: Int) throws -> Tensor {
    let (b, c, h, w) = try dims(x)
    guard oh > 0, ow > 0 else { throw RenderError.invalidArgument("cannot resize \(x.shape) to \(ow)x\(oh)") }
    func index(_ d: Int, _ input: Int, _ output: Int) -> Int {
        if input == output { return d }
        if output == 2 * input { return d >> 1 }
        return min(Int((Float(d) * (Float(input) / Float(output))).rounded(.down)), input - 1)
    }
    let rows = (0..<oh).map { index($0, h, oh) }, columns = (0..<ow).map { index($0, w, ow) }
    var out = Tensor(uninitialized: [b, c, oh, ow])
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        let source = UncheckedBox(xp.baseAddress!), target = UncheckedBox(op.baseAddress!)
        Kernels.parallelFor(b * c, minimumChunk: 8) { planes in
            for plane in planes {
                let src = source.value + plane * h * w, dst = target.value + plane * oh * ow
                for y in 0..<oh {
                    let s = src + rows[y] * w, d = dst + y * ow
                    for xx in 0..<ow { d[xx] = s[columns[xx]] }
                }
            }
        }
    } }
    return out
}

/// `x += y` for same-shaped tensors (residual connections), over the cores.
func addInPlace(_ x: inout Tensor, _ y: Tensor) {
    Profile.measure("elementwise", "residual add") { addInPlaceRun(&x, y) }
}

private func addInPlaceRun(_ x: inout Tensor, _ y: Tensor) {
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

/// NCHW [B, C, H, W] → token-major [B·H·W, C] (item after item), in cache-sized blocks of tokens
/// over the cores.
func tokens(_ x: Tensor) throws -> Tensor {
    let (b, c, h, w) = try dims(x)
    return Profile.measure("layout", "to tokens") {
        var out = Tensor(uninitialized: [b * h * w, c])
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            let source = UncheckedBox(xp.baseAddress!), target = UncheckedBox(op.baseAddress!)
            forEachTokenBlock(batch: b, plane: h * w) { item, range in
                let src = source.value + item * c * h * w, dst = target.value + item * h * w * c
                for ch in 0..<c {
                    let row = src + ch * h * w
                    for i in range { dst[i * c + ch] = row[i] }
                }
            }
        } }
        return out
    }
}

/// `x += t` with t token-major [B·H·W, C] and x NCHW (the inverse layout of `tokens`).
func addTokens(_ t: Tensor, into x: inout Tensor) throws {
    let (b, c, h, w) = try dims(x)
    precondition(t.shape == [b * h * w, c], "tokens \(t.shape) do not match \(x.shape)")
    Profile.measure("layout", "add from tokens") {
        x.withUnsafeMutableBufferPointer { xp in t.withUnsafeBufferPointer { tp in
            let target = UncheckedBox(xp.baseAddress!), source = UncheckedBox(tp.baseAddress!)
            forEachTokenBlock(batch: b, plane: h * w) { item, range in
                let dst = target.value + item * c * h * w, src = source.value + item * h * w * c
                for ch in 0..<c {
                    let row = dst + ch * h * w
                    for i in range { row[i] += src[i * c + ch] }
                }
            }
        } }
    }
}

/// Runs `body(item, tokens)` over blocks of 64 tokens of each batch item, on all cores.
private func forEachTokenBlock(batch: Int, plane: Int, _ body: (Int, Range<Int>) -> Void) {
    let block = 64, perItem = (plane + block - 1) / block
    Kernels.parallelFor(batch * perItem, minimumChunk: 4) { tasks in
        for task in tasks {
            let item = task / perItem, start = (task % perItem) * block
            body(item, start..<min(plane, start + block))
        }
    }
}

/// Scaled dot-product attention, heads side by side in the columns: q [items·n, heads·d], k and
/// v [Σ m_i, heads·d]; the n queries of item i attend to its `keyCounts[i]` keys (one item with all
/// keys when nil). Each (item, head) gets its keys and values packed once, then tasks of
/// 64 query rows run the C kernel (`Kernels.attentionRows`), which never forms the 4096² score
/// matrix of a 64² latent in memory.
func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, keyCounts: [Int]? = nil, bf16: Bool = false) -> Tensor {
    let counts = keyCounts ?? [k.rows]
    precondition(counts.reduce(0, +) == k.rows && k.shape == v.shape && q.columns == k.columns, "attention \(q.shape) \(k.shape) \(counts)")
    if bf16 && Kernels.attentionBF16Supported { return attentionBF16(q: q, k: k, v: v, heads: heads, counts: counts) }
    let items = counts.count, n = q.rows / items, width = q.columns, d = width / heads
    let dp = Kernels.attentionPaddedWidth(d)
    // One packed head: key panels [padded keys · d], then values [m, dp].
    func headFloats(_ m: Int) -> Int { Kernels.attentionPaddedKeys(m) * d + m * dp }
    let (keyStart, packStart) = attentionOffsets(counts, heads: heads, perHead: headFloats)
    let blockRows = 64, blocks = (n + blockRows - 1) / blockRows
    let scale = 1 / Float(d).squareRoot()
    var out = Tensor(uninitialized: [items * n, width])
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: max(1, packStart.last!))
    defer { packed.deallocate() }
    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
        out.withUnsafeMutableBufferPointer { op in
            let q = UncheckedBox(qp.baseAddress!), k = UncheckedBox(kp.baseAddress!), v = UncheckedBox(vp.baseAddress!)
            let o = UncheckedBox(op.baseAddress!), pack = UncheckedBox(packed)
            // Per (item, head): key panels (zero keys past m), then values with zero columns past d.
            Kernels.parallelFor(items * heads) { range in
                for ih in range {
                    let item = ih / heads, h = ih % heads, m = counts[item], mp = Kernels.attentionPaddedKeys(m)
                    let panels = pack.value + packStart[item] + h * headFloats(m), vpad = panels + mp * d
                    let keys = k.value + keyStart[item] * width + h * d, values = v.value + keyStart[item] * width + h * d
                    for j in 0..<mp {
                        let panel = panels + (j / 32) * 32 * d + j % 32
                        for c in 0..<d { panel[c * 32] = j < m ? keys[j * width + c] : 0 }
                    }
                    for j in 0..<m {
                        (vpad + j * dp).update(from: values + j * width, count: d)
                        (vpad + j * dp + d).update(repeating: 0, count: dp - d)
                    }
                }
            }
            let scratch = Kernels.attentionScratch(rows: blockRows, keys: counts.max() ?? 0, width: d)
            forEachTask(items * heads * blocks, scratch: scratch) { task, scratch in
                let ih = task / blocks, item = ih / heads, h = ih % heads, m = counts[item]
                let r0 = (task % blocks) * blockRows, rows = min(blockRows, n - r0)
                let panels = pack.value + packStart[item] + h * headFloats(m)
                let offset = (item * n + r0) * width + h * d
                Kernels.attentionRows(q: q.value + offset, ldq: width, keyPanels: panels, paddedValues: panels + Kernels.attentionPaddedKeys(m) * d,
                                      rows: rows, keys: m, width: d, scale: scale, scratch: scratch, out: o.value + offset, ldo: width)
            }
        }
    } } }
    return out
}

/// Where item i's keys start (rows) and where its packed heads start (`perHead(keys)` elements each).
private func attentionOffsets(_ counts: [Int], heads: Int, perHead: (Int) -> Int) -> (keys: [Int], packs: [Int]) {
    var keys = [0], packs = [0]
    for m in counts {
        keys.append(keys.last! + m)
        packs.append(packs.last! + heads * perHead(m))
    }
    return (keys, packs)
}

/// `attention` with bf16 products (a bf16 checkpoint on an AVX512-BF16 CPU): each (item, head)
/// packed once as bf16 pairs, then tasks of 64 query rows run `Kernels.attentionRowsBF16`.
private func attentionBF16(q: Tensor, k: Tensor, v: Tensor, heads: Int, counts: [Int]) -> Tensor {
    let items = counts.count, n = q.rows / items, width = q.columns, d = width / heads
    let (keyStart, packStart) = attentionOffsets(counts, heads: heads) { Kernels.attentionPackedBF16Count(keys: $0, width: d) }
    let blockRows = 64, blocks = (n + blockRows - 1) / blockRows
    let scale = 1 / Float(d).squareRoot()
    var out = Tensor(uninitialized: [items * n, width])
    let packed = UnsafeMutablePointer<UInt32>.allocate(capacity: max(1, packStart.last!))
    defer { packed.deallocate() }
    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
        out.withUnsafeMutableBufferPointer { op in
            let q = UncheckedBox(qp.baseAddress!), k = UncheckedBox(kp.baseAddress!), v = UncheckedBox(vp.baseAddress!)
            let o = UncheckedBox(op.baseAddress!), pack = UncheckedBox(packed)
            func head(_ item: Int, _ h: Int) -> UnsafeMutablePointer<UInt32> {
                pack.value + packStart[item] + h * Kernels.attentionPackedBF16Count(keys: counts[item], width: d)
            }
            Kernels.parallelFor(items * heads) { range in
                for ih in range {
                    let item = ih / heads, h = ih % heads, offset = keyStart[item] * width + h * d
                    Kernels.attentionPackBF16(keys: k.value + offset, values: v.value + offset, ld: width, count: counts[item], width: d,
                                              into: head(item, h))
                }
            }
            let scratch = Kernels.attentionScratchBF16(rows: blockRows, keys: counts.max() ?? 0, width: d)
            forEachTask(items * heads * blocks, scratch: scratch) { task, scratch in
                let ih = task / blocks, item = ih / heads, h = ih % heads
                let r0 = (task % blocks) * blockRows, rows = min(blockRows, n - r0)
                let offset = (item * n + r0) * width + h * d
                Kernels.attentionRowsBF16(q: q.value + offset, ldq: width, packed: head(item, h), rows: rows, keys: counts[item], width: d,
                                          scale: scale, scratch: scratch, out: o.value + offset, ldo: width)
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
        Profile.measure("linear", "\(x.rows)x\(inputSize)→\(outputSize)") { run(x) }
    }

    /// `t += x · Wᵀ + b` (a residual branch's output projection) in the gemm's own pass.
    func add(_ x: Tensor, into t: inout Tensor) {
        precondition(t.rows == x.rows && t.columns == outputSize, "\(x.shape) → \(t.shape)")
        Profile.measure("linear", "\(x.rows)x\(inputSize)→\(outputSize) (+=)") {
            x.withUnsafeBufferPointer { input in
                t.withUnsafeMutableBufferPointer { output in apply(input.baseAddress!, rows: x.rows, into: output.baseAddress!, accumulate: true) }
            }
        }
    }

    private func run(_ x: Tensor) -> Tensor {
        // Fully written: the bias rows, or the gemm with beta 0 (which never reads C).
        var out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outputSize])
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
        if weight.computesInBF16 {
            // The rows rounded to bf16, times the bf16 weight; Float32 accumulation onto y.
            let narrow = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * inputSize)
            defer { narrow.deallocate() }
            BFloat16Compute.narrow(x, count: rows * inputSize, into: narrow)
            BFloat16Compute.gemm(m: rows, n: outputSize, k: inputSize, a: narrow, lda: inputSize,
                                 b: weight.halves, ldb: inputSize, transposeB: true, c: y, ldc: outputSize, accumulate: beta != 0)
            return
        }
        weight.withFloats { w in
            Kernels.gemm(m: rows, n: outputSize, k: inputSize, a: x, lda: inputSize,
                         b: w, ldb: inputSize, transposeB: true, c: y, ldc: outputSize, beta: beta)
        }
    }
}

func linear(_ ckpt: Checkpoint, _ name: String, bias: Bool = true) throws -> Dense {
    guard let s = ckpt.shape(name + ".weight") else { throw RenderError.missingWeight(path: ckpt.path, name: name + ".weight") }
    let out = s[0], inp = s.dropFirst().reduce(1, *)  // 1×1 convs used as linears
    return Dense(weight: try ckpt.weight(name + ".weight", shape: [out, inp], keepHalf: true),
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
        Profile.measure("layernorm", "\(x.shape)") { run(x) }
    }

    private func run(_ x: Tensor) -> Tensor {
        var out = x
        let rows = x.rows, columns = x.columns
        precondition(columns == gamma.count, "LayerNorm of width \(gamma.count) on \(x.shape)")
        out.withUnsafeMutableBufferPointer { p in
            Kernels.layerNorm(p.baseAddress!, rows: rows, columns: columns, gamma: gamma.pointer, beta: beta.pointer, epsilon: epsilon)
        }
        return out
    }
}

/// Opt-in per-op timing for performance work: with env `STYLUS_PROFILE=1`, wall and process CPU
/// seconds accumulate by op kind (and by kind + shape) and a table goes to stderr after each UNet
/// evaluation or VAE decode. Off, it costs one branch per op. Ops run on the model's calling thread
/// (their parallel work happens inside), so the tables need no locking; nested ops count in the
/// outermost one.
enum Profile {
    static let enabled = getenv("STYLUS_PROFILE").map { String(cString: $0) != "0" } ?? false
    private struct Entry { var calls = 0, wall = 0.0, cpu = 0.0 }
    nonisolated(unsafe) private static var kinds: [String: Entry] = [:]
    nonisolated(unsafe) private static var details: [String: Entry] = [:]
    nonisolated(unsafe) private static var depth = 0

    @inline(__always)
    static func measure<R>(_ kind: String, _ detail: @autoclosure () -> String = "", _ body: () throws -> R) rethrows -> R {
        guard enabled, depth == 0 else { return try body() }
        depth += 1
        defer { depth -= 1 }
        let w0 = clock(CLOCK_MONOTONIC), c0 = clock(CLOCK_PROCESS_CPUTIME_ID)
        let result = try body()
        let wall = clock(CLOCK_MONOTONIC) - w0, cpu = clock(CLOCK_PROCESS_CPUTIME_ID) - c0
        for (table, key) in [(0, kind), (1, kind + " " + detail())] {
            var e = (table == 0 ? kinds[key] : details[key]) ?? Entry()
            e.calls += 1; e.wall += wall; e.cpu += cpu
            if table == 0 { kinds[key] = e } else { details[key] = e }
        }
        return result
    }

    /// Writes the tables accumulated since the last report to stderr and clears them.
    static func report(_ title: String) {
        guard enabled else { return }
        func lines(_ table: [String: Entry], limit: Int) -> String {
            let total = table.values.reduce(0) { $0 + $1.wall }
            return table.sorted { $0.value.wall > $1.value.wall }.prefix(limit).map { key, e in
                key.padding(toLength: 44, withPad: " ", startingAt: 0)
                    + String(format: "%6d %9.3f %9.3f %6.2f %5.1f%%", e.calls, e.wall, e.cpu, e.cpu / max(e.wall, 1e-9), 100 * e.wall / max(total, 1e-9))
            }.joined(separator: "\n")
        }
        let header = "op".padding(toLength: 44, withPad: " ", startingAt: 0) + " calls    wall_s     cpu_s  cores  share"
        let wall = kinds.values.reduce(0) { $0 + $1.wall }, cpu = kinds.values.reduce(0) { $0 + $1.cpu }
        FileHandle.standardError.write(Data("""
            == profile: \(title) (measured ops: wall \(String(format: "%.3f", wall)) s, cpu \(String(format: "%.3f", cpu)) s)
            \(header)
            \(lines(kinds, limit: 40))
            -- by shape
            \(lines(details, limit: 40))\n
            """.utf8))
        kinds = [:]
        details = [:]
    }

    private static func clock(_ id: clockid_t) -> Double {
        var t = timespec()
        clock_gettime(id, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
