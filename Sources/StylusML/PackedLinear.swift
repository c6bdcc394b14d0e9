// The encoder's linear layers for short inputs. For one short prompt (a few dozen tokens) OpenBLAS
// repacks each weight matrix on every call, which costs about as much as the product itself; here
// the weights are packed once at load time for an AVX-512 register-blocked kernel (CStylusKernels). Longer
// inputs, and CPUs without AVX-512, use `Linear.apply` (OpenBLAS) unchanged.

import CStylusKernels

package struct PackedLinear: Sendable {
    let linear: Linear
    /// W in panels of 16 output columns (see `stylus_linear_packed_avx512`); nil when not used.
    package let panels: [Float]?

    /// Inputs with more rows than this go to BLAS (its packing cost is amortised there).
    static let maxRows = 96

    package init(_ linear: Linear) {
        self.linear = linear
        let n = linear.outputSize, k = linear.inputSize
        guard Kernels.hasAVX512, n % 16 == 0, k > 0 else {
            panels = nil
            return
        }
        var packed = [Float](repeating: 0, count: n * k)
        linear.weight.withUnsafeBufferPointer { w in
            for j in 0..<n {
                let base = (j / 16) * 16 * k + (j % 16)
                for kk in 0..<k { packed[base + kk * 16] = w[j * k + kk] }
            }
        }
        panels = packed
    }

    /// `y = x · Wᵀ + b`, or `y += x · Wᵀ + b` with `accumulate` (as `Linear.apply`).
    package func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rows > 0 else { return }
        #if arch(x86_64)
        if let panels, rows <= Self.maxRows {
            let n = linear.outputSize, k = linear.inputSize
            let panelCount = n / 16
            panels.withUnsafeBufferPointer { wp in
                let run = { (bias: UnsafePointer<Float>?) in
                    let (px, pw, py, pb) = (UncheckedSendable(x), UncheckedSendable(wp.baseAddress!), UncheckedSendable(y), UncheckedSendable(bias))
                    // Groups of 3 panels (48 columns) are the kernel's unit; split them over threads
                    // when the product is big enough to pay for waking one.
                    let groups = (panelCount + 2) / 3
                    let chunk = rows * n * k >= Kernels.parallelThreshold ? 1 : groups
                    Kernels.parallelFor(groups, minimumChunk: chunk) { range in
                        stylus_linear_packed_avx512(px.value, rows, k, pw.value, n, pb.value, py.value, accumulate ? 1 : 0,
                                                    range.lowerBound * 3, min(panelCount, range.upperBound * 3))
                    }
                }
                if let bias = linear.bias {
                    bias.withUnsafeBufferPointer { run($0.baseAddress!) }
                } else {
                    run(nil)
                }
            }
            return
        }
        #endif
        linear.apply(x, rows: rows, into: y, accumulate: accumulate)
    }
}
