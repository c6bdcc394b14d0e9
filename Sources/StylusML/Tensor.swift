// A minimal dense tensor: a shape and row-major Float storage. Numeric work happens in `Kernels`
// (pointer level, for hot loops) and in the few value-level helpers below.

/// A row-major (C-order) Float tensor. The last dimension is contiguous.
///
/// Kept deliberately small: it owns storage and shape; operations live in `Kernels` and in the
/// extensions below. Matrices are rank-2 tensors; "rows" of any tensor means all leading dimensions
/// flattened, "columns" the last dimension (the layout BLAS and the row-wise kernels expect).
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    /// Elements in row-major order; `data.count == shape.reduce(1, *)`.
    public var data: [Float] {
        didSet { precondition(data.count == Tensor.count(of: shape), "Tensor data count changed") }
    }

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(data.count == Tensor.count(of: shape), "shape \(shape) needs \(Tensor.count(of: shape)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: Tensor.count(of: shape)))
    }

    /// A tensor whose elements the caller overwrites before reading (no zero-filling pass).
    public init(uninitialized shape: [Int]) {
        let count = Tensor.count(of: shape)
        self.init(shape: shape, data: [Float](unsafeUninitializedCapacity: count) { _, n in n = count })
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, data: [Float](repeating: value, count: Tensor.count(of: shape)))
    }

    static func count(of shape: [Int]) -> Int { shape.reduce(1, *) }

    public var count: Int { data.count }
    public var rank: Int { shape.count }
    /// Product of all dimensions but the last (1 for a scalar or vector).
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// The last dimension (1 for a scalar).
    public var columns: Int { shape.last ?? 1 }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Element at a full multi-index (slow; for tests and debugging).
    public subscript(_ index: Int...) -> Float {
        get { data[offset(index)] }
        set { data[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of bounds for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// Row `r` (see `rows`) as an array.
    public func row(_ r: Int) -> [Float] {
        Array(data[r * columns ..< (r + 1) * columns])
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeMutableBufferPointer(body)
    }
}

extension Tensor {
    /// Reads a named tensor from a safetensors file (converted to Float).
    public init(_ file: SafetensorsFile, _ name: String) throws(SafetensorsError) {
        let info = try file.info(name)
        self.init(shape: info.shape, data: try file.floats(name))
    }

    /// `self · otherᵀ` when `transposeOther`, else `self · other`, for rank-2 operands (or any rank,
    /// read as rows × columns). With `transposeOther`, `other` is laid out like a PyTorch Linear weight
    /// `[out, in]`.
    public func matmul(_ other: Tensor, transposeOther: Bool = false) -> Tensor {
        let m = rows, k = columns
        let n = transposeOther ? other.rows : other.columns
        precondition((transposeOther ? other.columns : other.rows) == k,
                     "matmul: \(shape) · \(transposeOther ? "transpose of " : "")\(other.shape) do not match")
        var out = Tensor(zeros: [m, n])
        data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                out.data.withUnsafeMutableBufferPointer { c in
                    Kernels.gemm(m: m, n: n, k: k, a: a.baseAddress!, lda: k,
                                 b: b.baseAddress!, ldb: transposeOther ? k : n, transposeB: transposeOther,
                                 c: c.baseAddress!, ldc: n)
                }
            }
        }
        return out
    }

    /// Elementwise sum with a tensor of the same shape, or a row vector broadcast over rows.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        var out = lhs
        out.add(rhs)
        return out
    }

    /// Adds a same-shaped tensor, or a vector of length `columns` to every row (a bias).
    public mutating func add(_ other: Tensor) {
        let rows = self.rows, columns = self.columns
        if other.shape == shape {
            data.withUnsafeMutableBufferPointer { x in
                other.data.withUnsafeBufferPointer { y in Kernels.add(y.baseAddress!, into: x.baseAddress!, count: x.count) }
            }
        } else {
            precondition(other.count == columns, "add: cannot broadcast \(other.shape) over \(shape)")
            data.withUnsafeMutableBufferPointer { x in
                other.data.withUnsafeBufferPointer { b in
                    Kernels.addRowVector(b.baseAddress!, to: x.baseAddress!, rows: rows, columns: columns)
                }
            }
        }
    }

    /// Layer normalisation over the last dimension: `(x − mean) / sqrt(var + eps) · gamma + beta`.
    public func layerNormed(gamma: Tensor, beta: Tensor, epsilon: Float) -> Tensor {
        var out = self
        let rows = self.rows, columns = self.columns
        precondition(gamma.count == columns && beta.count == columns, "layerNorm: parameters do not match \(shape)")
        out.data.withUnsafeMutableBufferPointer { x in
            gamma.data.withUnsafeBufferPointer { g in
                beta.data.withUnsafeBufferPointer { b in
                    Kernels.layerNorm(x.baseAddress!, rows: rows, columns: columns,
                                      gamma: g.baseAddress!, beta: b.baseAddress!, epsilon: epsilon)
                }
            }
        }
        return out
    }

    /// GELU, exact (erf) form as in BERT: `x · ½(1 + erf(x/√2))`.
    public func gelu() -> Tensor {
        var out = self
        out.data.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: $0.count) }
        return out
    }

    /// Softmax over the last dimension.
    public func softmax() -> Tensor {
        var out = self
        let rows = self.rows, columns = self.columns
        out.data.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: rows, columns: columns) }
        return out
    }

    /// Multiplies every element by `factor`.
    public static func * (lhs: Tensor, factor: Float) -> Tensor {
        var out = lhs
        out.data.withUnsafeMutableBufferPointer { Kernels.scale($0.baseAddress!, count: $0.count, by: factor) }
        return out
    }
}

/// A fully connected layer with PyTorch's weight layout: `y = x · Wᵀ + b`, W is `[out, in]`.
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public var inputSize: Int { weight.columns }
    public var outputSize: Int { weight.rows }

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.count == weight.shape[0], "Linear bias does not match \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    /// Loads `<prefix>.weight` and, if present, `<prefix>.bias`.
    public init(_ file: SafetensorsFile, prefix: String) throws(SafetensorsError) {
        let weight = try Tensor(file, prefix + ".weight")
        guard weight.rank == 2 else {
            throw SafetensorsError(.invalidEntry(tensor: prefix + ".weight", problem: "expected a matrix, got shape \(weight.shape)"), path: file.path)
        }
        var bias: Tensor?
        if file.header[prefix + ".bias"] != nil {
            bias = try Tensor(file, prefix + ".bias")
            guard bias!.count == weight.shape[0] else {
                throw SafetensorsError(.invalidEntry(tensor: prefix + ".bias", problem: "expected \(weight.shape[0]) values, got shape \(bias!.shape)"), path: file.path)
            }
        }
        self.init(weight: weight, bias: bias)
    }

    /// `x · Wᵀ + b` for x of shape `[..., in]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var out = Tensor(zeros: Array(x.shape.dropLast()) + [outputSize])
        x.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                apply(input.baseAddress!, rows: x.rows, into: output.baseAddress!)
            }
        }
        return out
    }

    /// Pointer form: `rows × in` input, `rows × out` output. The output is overwritten, or with
    /// `accumulate` added to (`y += x · Wᵀ + b`, e.g. onto a residual), in one GEMM pass.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard rows > 0 else { return }
        var beta: Float = accumulate ? 1 : 0
        if let bias {
            // Put the bias into every row first and let the GEMM add the product on top.
            bias.withUnsafeBufferPointer { b in
                if accumulate {
                    Kernels.addRowVector(b.baseAddress!, to: y, rows: rows, columns: outputSize)
                } else {
                    Kernels.broadcastRow(b.baseAddress!, to: y, rows: rows, columns: outputSize)
                }
            }
            beta = 1
        }
        weight.withUnsafeBufferPointer { w in
            Kernels.gemm(m: rows, n: outputSize, k: inputSize, a: x, lda: inputSize,
                         b: w.baseAddress!, ldb: inputSize, transposeB: true, c: y, ldc: outputSize, beta: beta)
        }
    }
}
