// The encoder's linear layers for short inputs. For one short prompt (a few dozen tokens) OpenBLAS
// repacks each weight matrix on every call, which costs about as much as the product itself; here
// the weights are packed once at load time, in half precision, for a register-blocked C kernel
// (CStylusKernels) that needs AVX-512's 32 vector registers to be fast. Longer inputs, and CPUs without AVX-512, use
// `Linear.apply` (OpenBLAS) unchanged.

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

    package init(_ linear: Linear) {
        self.linear = linear
        let n = linear.outputSize, k = linear.inputSize
        guard Kernels.hasAVX512, n % 16 == 0, k > 0 else {
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
                Kernels.parallelFor(groups, minimumChunk: chunk) { range in
                    stylus_linear_packed(px.value, rows, k, pw.value, n, pb.value, py.value, accumulate ? 1 : 0,
                                         range.lowerBound * 3, min(panelCount, range.upperBound * 3))
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
