// Pointer-level numeric kernels: BLAS sgemm plus SIMD loops for the elementwise and row-wise work
// around it. Everything is row-major. These are the hot paths of the encoders (and the renderer),
// so they take raw pointers and never allocate.

import CBLAS
import CStylusKernels
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Kernels {
    /// SIMD width used by the loops below.
    typealias Vector = SIMD16<Float>
    static let width = 16

    // MARK: threads

    /// Worker threads for the parallel kernels: `STYLUS_THREADS`, else one per online core.
    public static let threadCount: Int = {
        if let text = getenv("STYLUS_THREADS").map({ String(cString: $0) }), let n = Int(text), n > 0 { return n }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// OpenBLAS itself runs single-threaded: its own threading spins and yields, and for the small
    /// and medium products of the encoders it is slower than one thread. `gemm` splits large
    /// products across `threadCount` threads instead. Evaluated once, before the first GEMM.
    private static let blasConfigured: Void = {
        openblas_set_num_threads(1)
    }()

    /// Threads OpenBLAS uses per call (1; see `gemm` for how work is spread over cores).
    public static var blasThreads: Int {
        _ = blasConfigured
        return Int(openblas_get_num_threads())
    }

    /// Products below this many multiply-adds run on the calling thread: splitting them costs more
    /// than it saves.
    static let parallelThreshold = 1 << 20

    /// Runs `body` over `0..<count` split into at most `threadCount` contiguous ranges of at least
    /// `minimumChunk` items, in parallel (on the kernels' own thread pool, `stylus_parallel_run`);
    /// returns when all are done. A call made while the pool is busy runs on the calling thread.
    /// `uneven`: items differ in cost, so cut up to 16 ranges per thread, which threads take as they
    /// finish (put the costly items first).
    public static func parallelFor(_ count: Int, minimumChunk: Int = 1, uneven: Bool = false, _ body: (Range<Int>) -> Void) {
        let parts = min(uneven ? 16 * threadCount : threadCount, count / max(1, minimumChunk))
        if parts <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var job = ParallelJob(count: count, parts: parts, body: body)
            withUnsafeMutablePointer(to: &job) { pointer in
                stylus_parallel_run(threadCount, parts, { context, part in
                    let job = context!.assumingMemoryBound(to: ParallelJob.self).pointee
                    job.body(job.count * part / job.parts..<job.count * (part + 1) / job.parts)
                }, pointer)
            }
        }
    }

    /// What the pool's threads need to run one part of a `parallelFor`.
    private struct ParallelJob {
        let count: Int
        let parts: Int
        let body: (Range<Int>) -> Void
    }

    // MARK: GEMM

    /// `C = alpha · A · op(B) + beta · C` with row-major A (m × k, leading dimension lda),
    /// op(B) = B (k × n) or Bᵀ when `transposeB` (B stored n × k), C m × n.
    /// Leading dimensions let callers address column blocks in place (e.g. one attention head).
    /// Large products are split over threads (by rows of C, or by columns when C has few rows);
    /// pass `parallel: false` when calling from code that is already parallel.
    public static func gemm(m: Int, n: Int, k: Int,
                            a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                            c: UnsafeMutablePointer<Float>, ldc: Int,
                            alpha: Float = 1, beta: Float = 0, parallel: Bool = true) {
        guard m > 0, n > 0 else { return }
        _ = blasConfigured
        if k == 0 {
            // BLAS leaves C untouched for k = 0; the maths says C = beta · C.
            for i in 0..<m { scale(c + i * ldc, count: n, by: beta) }
            return
        }
        func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            // With very few rows (one short prompt), OpenBLAS spends most of its time packing B. Its
            // small-matrix kernels (taken when m·n·k ≤ 100³) skip packing, so feed it column strips.
            let strip = m <= 16 ? [32, 16].first { m * $0 * k <= 1_000_000 } : nil
            guard let strip, n > strip else {
                cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
                return
            }
            var j = 0
            while j < n {
                let width = min(strip, n - j)
                let bStart = transposeB ? b + j * ldb : b + j
                cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(width), Int32(k), alpha, a, Int32(lda), bStart, Int32(ldb), beta, c + j, Int32(ldc))
                j += width
            }
        }
        // Products with a handful of rows (one short prompt) stay on one thread: they take well under a
        // millisecond, and measured on 2 shared cores, waking a second thread cost more than it saved.
        guard parallel, threadCount > 1, m > 16, m * n * k >= parallelThreshold else {
            call(m, n, a, b, c)
            return
        }
        let pa = UncheckedSendable(a), pb = UncheckedSendable(b), pc = UncheckedSendable(c)
        // Split the larger side of C: every thread packs all of the other operand again, so this
        // duplicates the smaller one (a conv's 128 weight rows against 3,584 image columns split by
        // rows spent most of its time packing the image twice).
        if m >= 64 * threadCount && m >= n {
            // Split rows of A and C. Row i of A starts at a + i·lda (or column i when A is transposed).
            parallelFor(m, minimumChunk: 32) { rows in
                let aStart = transposeA ? pa.value + rows.lowerBound : pa.value + rows.lowerBound * lda
                call(rows.count, n, aStart, pb.value, pc.value + rows.lowerBound * ldc)
            }
        } else {
            // Split columns of op(B) and C: column j of op(B) is row j of B when transposed.
            parallelFor(n, minimumChunk: 32) { columns in
                let bStart = transposeB ? pb.value + columns.lowerBound * ldb : pb.value + columns.lowerBound
                call(m, columns.count, pa.value, bStart, pc.value + columns.lowerBound)
            }
        }
    }

    // MARK: attention and GEGLU (C kernels in CStylusKernels)

    /// Attention of `rows` query rows of one head against `keys` keys: for each row r,
    /// `out[r] = softmax_j(scale · q[r]·k[j]) · v[j]`, computed in cache-sized register blocks
    /// without a full score matrix. `q` rows are `ldq` apart; `keyPanels` holds the head's keys in
    /// panels of 32 (key j, component c at `(j / 32)·32·width + c·32 + j % 32`, zero past `keys` up to
    /// `attentionPaddedKeys(keys)`); `paddedValues` its values as `[keys, attentionPaddedWidth(width)]`
    /// (columns past `width` zero); `scratch` holds `attentionScratch(rows:keys:width:)` floats;
    /// `out` rows are `ldo` apart. Call it on blocks of about 64 rows (scores stay in cache).
    public static func attentionRows(q: UnsafePointer<Float>, ldq: Int, keyPanels: UnsafePointer<Float>,
                                     paddedValues: UnsafePointer<Float>, rows: Int, keys: Int, width: Int, scale: Float,
                                     scratch: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
        guard rows > 0, width > 0 else { return }
        stylus_attention_rows(q, ldq, keyPanels, paddedValues, rows, keys, width, scale, scratch, out, ldo)
    }

    /// Attention of one head over one short text (`keys` tokens), Q, K and V read in place with rows
    /// `ld` apart: `out[i] = softmax_j(scale · q[i]·k[j]) · v[j]`. `width` must be a multiple of 16;
    /// `scores` holds `keys` floats.
    public static func attentionShort(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ld: Int,
                                      keys: Int, width: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
                                      out: UnsafeMutablePointer<Float>, ldo: Int) {
        precondition(width % 16 == 0)
        guard keys > 0, width > 0 else { return }
        stylus_attention_short(q, k, v, ld, keys, width, scale, scores, out, ldo)
    }

    /// Whether `attentionRowsBF16` runs on this CPU (AVX512-BF16).
    public static let attentionBF16Supported = stylus_attention_bf16_supported() != 0

    /// `attentionRows` with the q·k and p·v products on bf16 values (AVX512-BF16), accumulated in
    /// Float32; the softmax stays Float32. `packed` is the head from `attentionPackBF16`;
    /// `scratch` holds `attentionScratchBF16(rows:keys:width:)` floats.
    public static func attentionRowsBF16(q: UnsafePointer<Float>, ldq: Int, packed: UnsafePointer<UInt32>, rows: Int, keys: Int,
                                         width: Int, scale: Float, scratch: UnsafeMutablePointer<Float>,
                                         out: UnsafeMutablePointer<Float>, ldo: Int) {
        precondition(attentionBF16Supported, "bf16 attention without AVX512-BF16")
        guard rows > 0, width > 0 else { return }
        stylus_attention_rows_bf16(q, ldq, packed, rows, keys, width, scale, scratch, out, ldo)
    }

    /// One head's keys and values (`keys` rows `ld` apart, `width` wide) packed as bf16 pairs for
    /// `attentionRowsBF16`, into `attentionPackedBF16Count(keys:width:)` words.
    public static func attentionPackBF16(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, ld: Int, count: Int, width: Int,
                                         into out: UnsafeMutablePointer<UInt32>) {
        stylus_attention_pack_bf16(k, v, ld, count, width, out)
    }

    public static func attentionPackedBF16Count(keys: Int, width: Int) -> Int { stylus_attention_bf16_packed(keys, width) }

    public static func attentionScratchBF16(rows: Int, keys: Int, width: Int) -> Int { stylus_attention_bf16_scratch(rows, keys, width) }

    /// Row length of the padded value matrix `attentionRows` reads for heads `width` wide.
    public static func attentionPaddedWidth(_ width: Int) -> Int { stylus_attention_padded_width(width) }

    /// Keys rounded up to whole 32-key panels.
    public static func attentionPaddedKeys(_ keys: Int) -> Int { stylus_attention_padded_keys(keys) }

    /// Scratch floats `attentionRows` needs for `rows` query rows, `keys` keys, heads `width` wide.
    public static func attentionScratch(rows: Int, keys: Int, width: Int) -> Int { stylus_attention_scratch(rows, keys, width) }

    /// GEGLU of `rows` rows of x (`2·inner` wide): `out[r, i] = x[r, i] · gelu(x[r, inner + i])`,
    /// erf GELU as in `gelu`.
    public static func geglu(_ x: UnsafePointer<Float>, rows: Int, inner: Int, into out: UnsafeMutablePointer<Float>) {
        guard rows > 0, inner > 0 else { return }
        stylus_geglu(x, rows, inner, out)
    }

    // MARK: Winograd convolution

    /// Whether `winogradConv3x3` pays off for these sizes (measured against im2col + sgemm with
    /// SkylakeX OpenBLAS: 1.2–1.7× faster from 32×32 with ≥ 256 channels, slower at 16×16 or 128
    /// channels): enough 2×2 output tiles (`tiles`, over the whole batch) for its 16 gemms to be
    /// wide, enough channels for the gemms to outweigh the transforms, and transformed weights
    /// (16·out·in floats, made on each call) of at most 128 MB.
    public static func winogradPaysOff(tiles: Int, inChannels: Int, outChannels: Int) -> Bool {
        tiles >= 256 && min(inChannels, outChannels) >= 256 && 16 * inChannels * outChannels <= 1 << 25
    }

    /// 3×3 convolution, stride 1, padding 1, by Winograd F(2×2, 3×3): 16 gemms of the transformed
    /// weights and input tiles replace 36 multiplies per 2×2 outputs with 16. x [batch, C, H, W],
    /// weights [K, C, 3, 3], optional bias [K]; writes out [batch, K, H, W]. The input is
    /// transformed in bands of tiles (the transform holds 4× the input), so memory stays bounded;
    /// `tilesPerBand` overrides the band size (tests).
    public static func winogradConv3x3(_ x: UnsafePointer<Float>, batch: Int, inChannels C: Int, height H: Int, width W: Int,
                                       weights: UnsafePointer<Float>, outChannels K: Int, bias: UnsafePointer<Float>?,
                                       out: UnsafeMutablePointer<Float>, tilesPerBand: Int? = nil) {
        _ = blasConfigured
        let total = batch * ((H + 1) / 2) * ((W + 1) / 2)
        guard total > 0, K > 0 else { return }
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * K * C)
        defer { u.deallocate() }
        // Bands of tiles whose transformed input and output take ≤ 16 M floats (64 MB).
        let band = min(total, max(1, tilesPerBand ?? max(64, (16 << 20) / (16 * (C + K)))))
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * C * band), m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * K * band)
        defer { v.deallocate(); m.deallocate() }
        let px = UncheckedSendable(x), pu = UncheckedSendable(u), pv = UncheckedSendable(v), pm = UncheckedSendable(m)
        let pw = UncheckedSendable(weights), pb = UncheckedSendable(bias), po = UncheckedSendable(out)
        parallelFor(K, minimumChunk: 8) { ks in stylus_winograd_weights(pw.value, K, C, ks.lowerBound, ks.upperBound, pu.value) }
        var t0 = 0
        while t0 < total {
            let tb = min(band, total - t0), start = t0
            parallelFor(C, minimumChunk: 8) { cs in stylus_winograd_input(px.value, C, H, W, start, tb, cs.lowerBound, cs.upperBound, pv.value) }
            // The 16 products are independent: the cores take them in turn (uneven finishing is fine).
            DispatchQueue.concurrentPerform(iterations: 16) { xi in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(K), Int32(tb), Int32(C), 1,
                            pu.value + xi * K * C, Int32(C), pv.value + xi * C * tb, Int32(tb), 0, pm.value + xi * K * tb, Int32(tb))
            }
            parallelFor(K, minimumChunk: 8) { ks in
                stylus_winograd_output(pm.value, K, H, W, start, tb, pb.value, ks.lowerBound, ks.upperBound, po.value)
            }
            t0 += tb
        }
    }

    /// The transformed weights `winogradConv3x3BF16` takes: u[ξ][k][c] of bf16 `weights` [K, C, 3, 3],
    /// computed in Float32 and rounded to bf16 once, into `u` (16·K·C values).
    public static func winogradWeightsBF16(_ weights: UnsafePointer<UInt16>, outChannels K: Int, inChannels C: Int,
                                           into u: UnsafeMutablePointer<UInt16>) {
        let wide = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 9 * K * C))
        let uf = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 16 * K * C))
        defer { wide.deallocate(); uf.deallocate() }
        convertBFloat16(weights, to: wide, count: 9 * K * C)
        let pw = UncheckedSendable(UnsafePointer(wide)), pu = UncheckedSendable(uf)
        parallelFor(K, minimumChunk: 8) { ks in stylus_winograd_weights(pw.value, K, C, ks.lowerBound, ks.upperBound, pu.value) }
        narrowBFloat16(uf, to: u, count: 16 * K * C)
    }

    /// `winogradConv3x3` with bf16 products on the CPU's bf16 hardware (`BFloat16Compute`): the input
    /// tiles are rounded to bf16, the 16 products accumulate in Float32 and the output transform is
    /// Float32. `transformed` holds the weights from `winogradWeightsBF16` (made once per weight).
    public static func winogradConv3x3BF16(_ x: UnsafePointer<Float>, batch: Int, inChannels C: Int, height H: Int, width W: Int,
                                           transformed u: UnsafePointer<UInt16>, outChannels K: Int, bias: UnsafePointer<Float>?,
                                           out: UnsafeMutablePointer<Float>, tilesPerBand: Int? = nil) {
        let total = batch * ((H + 1) / 2) * ((W + 1) / 2)
        guard total > 0, K > 0 else { return }
        // Bands twice as wide as fp32's for the same memory: the transformed input is bf16.
        let band = min(total, max(1, tilesPerBand ?? max(64, (32 << 20) / (16 * (C + K)))))
        let v = UnsafeMutablePointer<UInt16>.allocate(capacity: 16 * C * band), m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * K * band)
        defer { v.deallocate(); m.deallocate() }
        let px = UncheckedSendable(x), pv = UncheckedSendable(v), pm = UncheckedSendable(m)
        let pb = UncheckedSendable(bias), po = UncheckedSendable(out)
        var t0 = 0
        while t0 < total {
            let tb = min(band, total - t0), start = t0
            parallelFor(C, minimumChunk: 8) { cs in stylus_winograd_input_bf16(px.value, C, H, W, start, tb, cs.lowerBound, cs.upperBound, pv.value) }
            // One product at a time, each on every core.
            for xi in 0..<16 {
                BFloat16Compute.gemm(m: K, n: tb, k: C, a: u + xi * K * C, lda: C, b: v + xi * C * tb, ldb: tb, c: m + xi * K * tb, ldc: tb)
            }
            parallelFor(K, minimumChunk: 8) { ks in
                stylus_winograd_output(pm.value, K, H, W, start, tb, pb.value, ks.lowerBound, ks.upperBound, po.value)
            }
            t0 += tb
        }
    }

    // MARK: conversion

    /// IEEE half → Float for `count` little-endian values at `source` (any alignment), split over
    /// threads when large. Returns false if any value is infinite or NaN. Bit arithmetic on 8
    /// lanes, so it vectorises on any x86-64 (Swift's `Float(Float16)` is a library call per value
    /// there, ~40× slower: it dominated checkpoint loading and LoRA merging).
    @discardableResult
    public static func convertHalf(_ source: UnsafeRawPointer, to out: UnsafeMutablePointer<Float>, count: Int,
                                   parallel: Bool = true) -> Bool {
        convertInParts(count, parallel: parallel) { range in
            var bad = SIMD8<UInt32>()
            var i = range.lowerBound
            @inline(__always) func lanes(_ h: SIMD8<UInt32>) -> SIMD8<Float> {
                let magnitude = h & 0x7FFF
                // Exponent rebias (and subnormals) by one exact multiply by 2^112; Inf/NaN keep all-ones.
                let scaled = unsafeBitCast(unsafeBitCast(magnitude &<< 13, to: SIMD8<Float>.self) * 0x1p112, to: SIMD8<UInt32>.self)
                // All ones where the exponent is 31 (magnitude ≥ 0x7C00), by arithmetic: lane
                // comparisons of unsigned ints are scalarised on SSE2.
                let special = SIMD8<UInt32>() &- ((magnitude &+ 0x0400) &>> 15)
                bad |= special
                let bits = (scaled & ~special) | (((magnitude &<< 13) | 0x7F80_0000) & special)
                return unsafeBitCast(bits | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
            }
            while i + 8 <= range.upperBound {
                let h = SIMD8<UInt32>(truncatingIfNeeded: source.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self))
                store8(lanes(h), out + i)
                i += 8
            }
            if i < range.upperBound {
                var h = SIMD8<UInt32>()
                for j in 0..<(range.upperBound - i) { h[j] = UInt32(source.loadUnaligned(fromByteOffset: 2 * (i + j), as: UInt16.self)) }
                storeTail(lanes(h), out + i, range.upperBound - i)
            }
            return bad == SIMD8<UInt32>()
        }
    }

    /// bfloat16 → Float (the high half of a Float); false if any value is infinite or NaN.
    @discardableResult
    public static func convertBFloat16(_ source: UnsafeRawPointer, to out: UnsafeMutablePointer<Float>, count: Int,
                                       parallel: Bool = true) -> Bool {
        convertInParts(count, parallel: parallel) { range in
            var bad = SIMD8<UInt32>()
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let bits = SIMD8<UInt32>(truncatingIfNeeded: source.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)) &<< 16
                bad |= (((bits &>> 23) & 0xFF) &+ 1) &>> 8  // 1 where the exponent is all ones
                store8(unsafeBitCast(bits, to: SIMD8<Float>.self), out + i)
                i += 8
            }
            var finite = bad == SIMD8<UInt32>()
            while i < range.upperBound {
                out[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                finite = finite && out[i].isFinite
                i += 1
            }
            return finite
        }
    }

    /// Float → IEEE half bits, rounded to nearest even (LoRA merges into weights kept in half).
    public static func narrowHalf(_ x: UnsafePointer<Float>, to out: UnsafeMutablePointer<UInt16>, count: Int, parallel: Bool = true) {
        _ = convertInParts(count, parallel: parallel) { r in
            stylus_narrow_half(x + r.lowerBound, r.count, out + r.lowerBound)
            return true
        }
    }

    /// Float → bfloat16 bits, rounded to nearest even.
    public static func narrowBFloat16(_ x: UnsafePointer<Float>, to out: UnsafeMutablePointer<UInt16>, count: Int, parallel: Bool = true) {
        _ = convertInParts(count, parallel: parallel) { r in
            stylus_narrow_bf16(x + r.lowerBound, r.count, out + r.lowerBound)
            return true
        }
    }

    /// Copies `count` Floats (any source alignment); false if any is infinite or NaN.
    @discardableResult
    public static func copyFloats(_ source: UnsafeRawPointer, to out: UnsafeMutablePointer<Float>, count: Int,
                                  parallel: Bool = true) -> Bool {
        convertInParts(count, parallel: parallel) { range in
            memcpy(out + range.lowerBound, source + 4 * range.lowerBound, 4 * range.count)
            return allFinite(out + range.lowerBound, count: range.count)
        }
    }

    /// True when no element is infinite or NaN (x − x is 0 exactly for finite x).
    public static func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
        var acc = Vector()
        var i = 0
        while i + width <= count {
            let v = load(x + i)
            acc += v - v
            i += width
        }
        var total = acc.sum()
        while i < count { total += x[i] - x[i]; i += 1 }
        return total == 0
    }

    /// Runs `body` over parts of `0..<count` (in parallel above a few MB) and ANDs the results.
    private static func convertInParts(_ count: Int, parallel: Bool, _ body: (Range<Int>) -> Bool) -> Bool {
        guard parallel, count >= 1 << 20 else { return body(0..<count) }
        let parts = threadCount
        var results = [Bool](repeating: true, count: parts)
        results.withUnsafeMutableBufferPointer { r in
            let rp = UncheckedSendable(r.baseAddress!)
            parallelFor(parts) { range in
                for part in range {
                    // Part boundaries on multiples of 16 keep the vector loop aligned with the data.
                    let start = min(count, (count * part / parts) & ~15), end = part == parts - 1 ? count : min(count, (count * (part + 1) / parts) & ~15)
                    rp.value[part] = body(start..<end)
                }
            }
        }
        return !results.contains(false)
    }

    // MARK: elementwise

    /// `y += x`.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + width <= count {
            store(load(y + i) + load(x + i), y + i)
            i += width
        }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// `x *= factor`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        var i = 0
        while i + width <= count {
            store(load(x + i) * factor, x + i)
            i += width
        }
        while i < count { x[i] *= factor; i += 1 }
    }

    /// Adds `vector` (length `columns`) to each of `rows` rows of `x`.
    public static func addRowVector(_ vector: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let (pv, px) = (UncheckedSendable(vector), UncheckedSendable(x))
        parallelFor(rows, minimumChunk: max(1, rowVectorChunk / max(1, columns))) { range in
            for r in range { add(pv.value, into: px.value + r * columns, count: columns) }
        }
    }

    /// Floats each thread writes at least when a row vector is spread over a batch (smaller jobs
    /// stay on the calling thread).
    private static let rowVectorChunk = 1 << 17

    /// Writes `vector` (length `columns`) into each of `rows` rows of `x`.
    public static func broadcastRow(_ vector: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let (pv, px) = (UncheckedSendable(vector), UncheckedSendable(x))
        parallelFor(rows, minimumChunk: max(1, rowVectorChunk / max(1, columns))) { range in
            for r in range { (px.value + r * columns).update(from: pv.value, count: columns) }
        }
    }

    /// GELU, erf form (BERT's `gelu`): `x · ½(1 + erf(x/√2))`, in place (C kernel: erf to 1.5e-7).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        stylus_gelu(x, count)
    }

    /// `exp` in place.
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            store8(exp(load8(x + i)), x + i)
            i += 8
        }
        if i < count { storeTail(exp(loadTail(x + i, count - i)), x + i, count - i) }
    }

    /// SiLU `x · sigmoid(x)` in place.
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = load8(x + i)
            store8(v / (1 + exp(-v)), x + i)
            i += 8
        }
        if i < count {
            let v = loadTail(x + i, count - i)
            storeTail(v / (1 + exp(-v)), x + i, count - i)
        }
    }

    /// `y = x · scale + shift`, then SiLU when `silu` (one GroupNorm channel plane; y may be x).
    public static func scaleShift(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
                                  scale: Float, shift: Float, silu: Bool) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lane.self) * scale + shift
            store8(silu ? v / (1 + exp(-v)) : v, y + i)
            i += 8
        }
        if i < count {
            let v = loadTail(UnsafeMutablePointer(mutating: x) + i, count - i) * scale + shift
            storeTail(silu ? v / (1 + exp(-v)) : v, y + i, count - i)
        }
    }

    /// Mean and variance (biased) of `count` values: Float lanes per block of 4,096 summed in Double.
    public static func meanVariance(_ x: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
        guard count > 0 else { return (0, 0) }
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 4096)
            total += Double(sum(x + start, count: end - start))
            start = end
        }
        let mean = total / Double(count), m = Float(mean)
        var squares = 0.0
        start = 0
        while start < count {
            let end = min(count, start + 4096)
            var acc = Vector()
            var i = start
            while i + width <= end { let d = load(x + i) - m; acc += d * d; i += width }
            var part = acc.sum()
            while i < end { let d = x[i] - m; part += d * d; i += 1 }
            squares += Double(part)
            start = end
        }
        return (mean, squares / Double(count))
    }

    // MARK: row-wise

    /// Layer norm of each row in place: `(x − mean) / sqrt(var + eps) · gamma + beta` (biased variance).
    public static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float) {
        guard columns > 0 else { return }
        for r in 0..<rows {
            let row = x + r * columns
            let mean = sum(row, count: columns) / Float(columns)
            // Two passes (mean, then squared deviations) keep the variance accurate.
            var acc = Vector()
            var i = 0
            while i + width <= columns {
                let d = load(row + i) - mean
                acc += d * d
                i += width
            }
            var squares = acc.sum()
            while i < columns { let d = row[i] - mean; squares += d * d; i += 1 }
            let inverse = 1 / (squares / Float(columns) + epsilon).squareRoot()
            i = 0
            while i + width <= columns {
                store((load(row + i) - mean) * inverse * load(gamma + i) + load(beta + i), row + i)
                i += width
            }
            while i < columns { row[i] = (row[i] - mean) * inverse * gamma[i] + beta[i]; i += 1 }
        }
    }

    /// Softmax of each row in place (rows of length `columns`, consecutive rows `stride` apart).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int? = nil) {
        guard rows > 0, columns > 0 else { return }
        stylus_softmax_rows(x, rows, columns, stride ?? columns)
    }

    /// Sum of `count` elements.
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector()
        var i = 0
        while i + width <= count { acc += load(x + i); i += width }
        var total = acc.sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Dot product of two vectors.
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var acc = Vector()
        var i = 0
        while i + width <= count { acc += load(x + i) * load(y + i); i += width }
        var total = acc.sum()
        while i < count { total += x[i] * y[i]; i += 1 }
        return total
    }

    // MARK: SIMD helpers

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    // The transcendental functions work on 8 lanes: the code must also run well on baseline x86-64
    // (SSE2), where a lane group of 8 is two registers and the polynomials stay in registers.
    typealias Lane = SIMD8<Float>

    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> Lane {
        UnsafeRawPointer(p).loadUnaligned(as: Lane.self)
    }

    @inline(__always) static func store8(_ v: Lane, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane.self)
    }

    /// The last `count` (< 8) elements, zero-padded.
    @inline(__always) static func loadTail(_ p: UnsafeMutablePointer<Float>, _ count: Int) -> Lane {
        var v = Lane()
        for j in 0..<count { v[j] = p[j] }
        return v
    }

    @inline(__always) static func storeTail(_ v: Lane, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        for j in 0..<count { p[j] = v[j] }
    }

    /// Clamps each lane to [low, high] with compare-and-select on the bit patterns (the stdlib's
    /// pointwiseMin/Max handle NaN per lane and do not vectorise). A NaN lane stays NaN.
    @inline(__always) static func clamp(_ x: Lane, _ low: Float, _ high: Float) -> Lane {
        let lo = Lane(repeating: low), hi = Lane(repeating: high)
        let below = unsafeBitCast(x .< lo, to: SIMD8<UInt32>.self)
        let above = unsafeBitCast(x .> hi, to: SIMD8<UInt32>.self)
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let kept = bits & ~(below | above)
        let replaced = (unsafeBitCast(lo, to: SIMD8<UInt32>.self) & below) | (unsafeBitCast(hi, to: SIMD8<UInt32>.self) & above)
        return unsafeBitCast(kept | replaced, to: Lane.self)
    }

    /// exp on 8 lanes: 2^n · p(r) with x = n·ln2 + r, |r| ≤ ln2/2, p a degree-7 Taylor polynomial
    /// (relative error ≈ 1e-7). Inputs are clamped to the finite range; plain arithmetic and bit
    /// operations only, so it stays vectorised.
    @inline(__always) static func exp(_ x: Lane) -> Lane {
        let x = clamp(x, -87.3, 88.0)
        // Round x·log2(e) to an integer with the 1.5·2^23 trick: the integer lands in the low mantissa bits.
        let magic = Lane(repeating: 12_582_912)
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        let r = x - n * 0.693145751953125 - n * 1.42860682030941723e-06
        var p = Lane(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let ni = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let twoToN = unsafeBitCast((ni &+ 127) &<< 23, to: Lane.self)
        return p * twoToN
    }

    /// erf on 8 lanes (Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7, the same approximation
    /// PyTorch's vectorised CPU erf uses).
    @inline(__always) static func erf(_ x: Lane) -> Lane {
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let sign = bits & 0x8000_0000
        let a = unsafeBitCast(bits & 0x7FFF_FFFF, to: Lane.self)
        let t = 1 / (1 + 0.3275911 * a)
        var p = Lane(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        p = p * t
        let y = 1 - p * exp(-(a * a))
        return unsafeBitCast(unsafeBitCast(y, to: SIMD8<UInt32>.self) | sign, to: Lane.self)
    }
}

/// Carries a value into a concurrently executed closure. Used only for pointers to disjoint regions
/// and for closures run to completion inside `parallelFor`.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}
