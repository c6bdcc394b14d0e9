// The encoder's linear layers for short inputs. For one short prompt (a few dozen tokens) OpenBLAS
// repacks each weight matrix on every call, which costs about as much as the product itself; here
// the weights are packed once at load time, in half precision, for a register-blocked C kernel
// (CStylusKernels): 8 rows × 48 columns per block with AVX-512's 32 vector registers, 6 rows × 16
// columns with AVX2's 16. Longer inputs, and CPUs with neither, use `Linear.apply` (OpenBLAS) unchanged.

import CStylusKernels

package struct PackedLinear: Sendable {
    let linear: Linear
    /// W as IEEE halves in panels of 16 output columns (see `stylus_linear_packed`); nil when not
    /// used. Half precision moves all-MiniLM-L6-v2's embeddings by under 1e-6 in cosine (measured
    /// with sentence-transformers on the parity texts) and halves the bytes each short prompt streams.
    package let panels: [UInt16]?

    /// Inputs with more rows than this go to BLAS: it packs W once per call and reuses it from L2
    /// for all rows, where this kernel would stream W again for every block of rows.
    static let maxRows = 96

    /// The register blocking: `wide` (8 rows × 3 panels) for AVX-512, `narrow` (6 rows × 1 panel) for AVX2.
    package enum Blocking: Sendable { case wide, narrow }
    let blocking: Blocking

    /// Packs W when this CPU has a fast kernel for it.
    package init(_ linear: Linear) {
        self.init(linear, blocking: Kernels.hasAVX512 ? .wide : Kernels.hasAVX2FMA ? .narrow : nil)
    }

    /// Packs W for the given kernel whatever the CPU (both are correct on any x86-64; tests use
    /// this); nil: not packed, every product goes to BLAS.
    package init(_ linear: Linear, blocking: Blocking?) {
        self.linear = linear
        self.blocking = blocking ?? .narrow
        let n = linear.outputSize, k = linear.inputSize
        guard blocking != nil, n % 16 == 0, k > 0 else {
            panels = nil
            return
        }
        panels = linear.weight.withUnsafeBufferPointer { w in
            [UInt16](unsafeUninitializedCapacity: n * k) { packed, count in
                stylus_pack_linear(w.baseAddress!, n, k, packed.baseAddress!)
                count = n * k
            }
        }
    }

    /// `y = x · Wᵀ + b`, or `y += x · Wᵀ + b` with `accumulate` (as `Linear.apply`).
    package func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rows > 0 else { return }
        guard let panels, rows <= Self.maxRows else {
            linear.apply(x, rows: rows, into: y, accumulate: accumulate)
            return
        }
        let n = linear.outputSize, k = linear.inputSize
        let panelCount = n / 16
        panels.withUnsafeBufferPointer { wp in
            linear.bias.withOptionalBufferPointer { bias in
                let (px, pw, py, pb) = (UncheckedSendable(x), UncheckedSendable(wp.baseAddress!), UncheckedSendable(y), UncheckedSendable(bias))
                // Groups of 3 panels (48 columns) are the kernel's unit; split them over threads
                // when the product is big enough to pay for waking one.
                let groups = (panelCount + 2) / 3
                let chunk = rows * n * k >= Kernels.parallelThreshold ? 1 : groups
                let wide = blocking == .wide
                Kernels.parallelFor(groups, minimumChunk: chunk) { range in
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

private extension Optional where Wrapped == Tensor {
    /// The tensor's base address, or nil for no tensor.
    func withOptionalBufferPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let tensor = self else { return body(nil) }
        return tensor.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
