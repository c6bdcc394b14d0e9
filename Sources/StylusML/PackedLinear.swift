// The encoder's linear layers for short inputs. For one short prompt (a few dozen tokens) OpenBLAS
// repacks each weight matrix on every call, which costs about as much as the product itself; here
// the weights are packed once at load time, in half precision, for a register-blocked C kernel
// (CStylusKernels): 8 rows × 48 columns per block with AVX-512's 32 vector registers, 6 rows × 16
// columns with AVX2's 16. Longer inputs, and CPUs with neither, use `Linear.apply` (OpenBLAS) unchanged.

import CStylusKernels
import Foundation

package struct PackedLinear: Sendable {
    let outputSize: Int
    let inputSize: Int
    let bias: Tensor?
    /// W as IEEE halves in panels of 16 output columns (see `stylus_linear_packed`); nil when not
    /// used. Half precision moves all-MiniLM-L6-v2's embeddings by under 1e-6 in cosine (measured
    /// with sentence-transformers on the parity texts) and halves the bytes each short prompt streams.
    package let panels: [UInt16]?
    /// The fp32 layer for inputs longer than `maxRows` (and CPUs without a packed kernel). Made on
    /// first use: a process that only encodes short queries never holds the fp32 weights.
    private let full: LazyLinear

    /// Rows per kernel call. The kernel reads all of x again for every panel of W, so x should stay
    /// near the core; the composer's first pass for a long prompt (topics and prompt, 110–150 rows)
    /// is 3% faster in one call than cut at 96 rows (measured on Zen 2: each cut streams W again).
    static let maxRows = 160
    /// Inputs with more rows go to BLAS, which packs W once per call and reuses it from L2 for all
    /// rows. Up to this many the kernel still runs, `maxRows` at a time: going to BLAS would make the
    /// fp32 weights (42 MB) resident in every process that composes.
    package static let chunkedRows = 384

    /// The register blocking: `wide` (8 rows × 3 panels) for AVX-512, `narrow` (6 rows × 1 panel) for AVX2.
    package enum Blocking: Sendable { case wide, narrow }
    let blocking: Blocking

    /// The blocking this CPU has a fast kernel for, nil for none.
    package static var nativeBlocking: Blocking? { Kernels.hasAVX512 ? .wide : Kernels.hasAVX2FMA ? .narrow : nil }

    /// Packs W when this CPU has a fast kernel for it.
    package init(_ linear: Linear) {
        self.init(linear, blocking: Self.nativeBlocking)
    }

    /// Packs W for the given kernel whatever the CPU (both are correct on any x86-64; tests use
    /// this); nil: not packed, every product goes to BLAS.
    package init(_ linear: Linear, blocking: Blocking?) {
        let n = linear.outputSize, k = linear.inputSize
        let panels = linear.weight.withUnsafeBufferPointer { w in
            Self.pack([w], n: n, k: k, blocking: blocking)
        }
        self.init(outputSize: n, inputSize: k, bias: linear.bias, panels: panels, blocking: blocking,
                  full: LazyLinear { linear })
    }

    /// Packs the row blocks `parts` of W (stacked in order, `n` rows of `k` in all) straight from
    /// where they are (a mapped file), without an fp32 copy; `makeFull` builds the fp32 layer if a
    /// long input ever needs it.
    package init(parts: [UnsafeBufferPointer<Float>], n: Int, k: Int, bias: Tensor?, blocking: Blocking? = PackedLinear.nativeBlocking,
                 makeFull: @escaping @Sendable () -> Linear) {
        self.init(outputSize: n, inputSize: k, bias: bias, panels: Self.pack(parts, n: n, k: k, blocking: blocking),
                  blocking: blocking, full: LazyLinear(makeFull))
    }

    private init(outputSize: Int, inputSize: Int, bias: Tensor?, panels: [UInt16]?, blocking: Blocking?, full: LazyLinear) {
        self.outputSize = outputSize
        self.inputSize = inputSize
        self.bias = bias
        self.panels = panels
        self.blocking = blocking ?? .narrow
        self.full = full
    }

    /// Panels of W from its row blocks; nil when there is no kernel or a block is not whole panels.
    private static func pack(_ parts: [UnsafeBufferPointer<Float>], n: Int, k: Int, blocking: Blocking?) -> [UInt16]? {
        guard blocking != nil, n % 16 == 0, k > 0, parts.reduce(0, { $0 + $1.count }) == n * k,
              parts.allSatisfy({ $0.count % (16 * k) == 0 && $0.baseAddress != nil }) else { return nil }
        return [UInt16](unsafeUninitializedCapacity: n * k) { packed, count in
            var offset = 0
            for part in parts {
                // Panels are 16 whole rows each, so a block of rows packs on its own.
                stylus_pack_linear(part.baseAddress!, part.count / k, k, packed.baseAddress! + offset)
                offset += part.count
            }
            count = n * k
        }
    }

    /// `y = x · Wᵀ + b`, or `y += x · Wᵀ + b` with `accumulate` (as `Linear.apply`).
    package func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rows > 0 else { return }
        guard let panels, rows <= Self.chunkedRows else {
            full.value.apply(x, rows: rows, into: y, accumulate: accumulate)
            return
        }
        var start = 0
        while start < rows {
            let count = min(Self.maxRows, rows - start)
            apply(panels, x + start * inputSize, rows: count, into: y + start * outputSize, accumulate: accumulate)
            start += count
        }
    }

    private func apply(_ panels: [UInt16], _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let n = outputSize, k = inputSize
        let panelCount = n / 16
        panels.withUnsafeBufferPointer { wp in
            bias.withOptionalBufferPointer { bias in
                let (px, pw, py, pb) = (UncheckedSendable(x), UncheckedSendable(wp.baseAddress!), UncheckedSendable(y), UncheckedSendable(bias))
                // Groups of 3 panels (48 columns) are the kernel's unit; split them over threads
                // when the product is big enough to pay for waking one. One part per group, taken
                // as threads come: a worker that wakes late or is preempted on a busy machine
                // leaves the caller waiting for one group, not for half the layer.
                let groups = (panelCount + 2) / 3
                let chunk = rows * n * k >= Kernels.parallelThreshold ? 1 : groups
                let wide = blocking == .wide
                Kernels.parallelFor(groups, minimumChunk: chunk, uneven: true) { range in
                    let (begin, end) = (range.lowerBound * 3, min(panelCount, range.upperBound * 3))
                    if wide {
                        stylus_linear_packed(px.value, rows, k, pw.value, n, pb.value, py.value, accumulate ? 1 : 0, begin, end)
                    } else {
                        stylus_linear_packed_narrow(px.value, rows, k, pw.value, n, pb.value, py.value, accumulate ? 1 : 0, begin, end)
                    }
                }
            }
        }
    }
}

/// A `Linear` made once, on first use, by any thread.
final class LazyLinear: @unchecked Sendable {  // `made` behind `lock`
    private let lock = NSLock()
    private let make: @Sendable () -> Linear
    private var made: Linear?

    init(_ make: @escaping @Sendable () -> Linear) { self.make = make }

    var value: Linear {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let linear = make()
        made = linear
        return linear
    }
}

private extension Optional where Wrapped == Tensor {
    /// The tensor's base address, or nil for no tensor.
    func withOptionalBufferPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let tensor = self else { return body(nil) }
        return tensor.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
