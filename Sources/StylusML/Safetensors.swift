// Safetensors: an 8-byte little-endian header length N, N bytes of JSON describing each tensor
// (dtype, shape, byte offsets into the data section) plus optional string `__metadata__`, then the
// data section. Headers come from untrusted downloads, so every number is checked before use.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types named in safetensors headers.
public enum SafetensorsDType: Equatable, Hashable, Sendable, CustomStringConvertible {
    case f64, f32, f16, bf16
    case i64, i32, i16, i8
    case u64, u32, u16, u8
    case bool
    case f8e4m3, f8e5m2
    /// A name this reader does not know (or a sub-byte type); kept so headers still parse.
    case other(String)

    public init(name: String) {
        switch name {
        case "F64": self = .f64
        case "F32": self = .f32
        case "F16": self = .f16
        case "BF16": self = .bf16
        case "I64": self = .i64
        case "I32": self = .i32
        case "I16": self = .i16
        case "I8": self = .i8
        case "U64": self = .u64
        case "U32": self = .u32
        case "U16": self = .u16
        case "U8": self = .u8
        case "BOOL": self = .bool
        case "F8_E4M3": self = .f8e4m3
        case "F8_E5M2": self = .f8e5m2
        default: self = .other(name)
        }
    }

    /// The name as written in headers.
    public var name: String {
        switch self {
        case .f64: "F64"
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .i64: "I64"
        case .i32: "I32"
        case .i16: "I16"
        case .i8: "I8"
        case .u64: "U64"
        case .u32: "U32"
        case .u16: "U16"
        case .u8: "U8"
        case .bool: "BOOL"
        case .f8e4m3: "F8_E4M3"
        case .f8e5m2: "F8_E5M2"
        case let .other(name): name
        }
    }

    public var description: String { name }

    /// Bytes per element, or nil for types whose size this reader does not know.
    public var byteSize: Int? {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        case .other: nil
        }
    }

    /// Whether `SafetensorsFile` can convert this type to Float.
    public var isConvertibleToFloat: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: true
        default: false
        }
    }
}

/// One tensor described by a header.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range relative to the start of the data section (as written in the header).
    public let dataOffsets: Range<Int>

    /// Number of elements (1 for a scalar, shape `[]`).
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dataOffsets.count }
}

/// Why a safetensors file or header was rejected.
public struct SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The file is shorter than the 8-byte length prefix.
        case truncatedLengthPrefix(fileSize: Int)
        /// The header claims more bytes than the cap; nothing was allocated.
        case headerTooLarge(claimed: UInt64, limit: Int)
        /// The header claims more bytes than the file holds.
        case headerPastEndOfFile(claimed: UInt64, fileSize: Int)
        case headerNotUTF8
        case invalidJSON(String)
        case headerNotObject
        /// A tensor entry (or `__metadata__`) is malformed: missing field, wrong type, bad value.
        case invalidEntry(tensor: String, problem: String)
        /// shape × dtype size disagrees with the data offsets.
        case byteCountMismatch(tensor: String, expected: Int, actual: Int)
        /// A tensor's data lies (partly) past the end of the file.
        case dataOutOfRange(tensor: String, end: Int, dataSize: Int)
        /// Two tensors share bytes.
        case overlappingTensors(String, String)
        /// Bytes of the data section no tensor claims (the format forbids holes).
        case unclaimedData(offset: Int, length: Int)
        case tensorNotFound(String)
        case unsupportedDType(tensor: String, dtype: String)
        /// The file could not be opened, read or mapped.
        case io(operation: String, errno: Int32)
        /// A FIFO, folder, socket or device where a file was expected.
        case notRegularFile(kind: String)
    }

    public let reason: Reason
    /// The file concerned, when known.
    public let path: String?

    public init(_ reason: Reason, path: String? = nil) {
        self.reason = reason
        self.path = path
    }

    func at(_ path: String) -> SafetensorsError { SafetensorsError(reason, path: path) }

    public var description: String {
        let what: String
        switch reason {
        case let .truncatedLengthPrefix(size):
            what = "file is \(size) bytes, too short for the 8-byte header length; not a safetensors file"
        case let .headerTooLarge(claimed, limit):
            // The claimed length is the file's first 8 bytes; it is not echoed (for /etc/passwd it would show "root:x:0").
            _ = claimed
            what = "its first 8 bytes are not a header length within the \(limit)-byte limit; the file is corrupt or not safetensors"
        case let .headerPastEndOfFile(claimed, size):
            _ = claimed
            what = "its first 8 bytes are not a header length that fits the file's \(size) bytes; the file is truncated or not safetensors"
        case .headerNotUTF8:
            what = "header is not valid UTF-8; the file is corrupt"
        case let .invalidJSON(detail):
            what = "header is not valid JSON (\(detail)); the file is corrupt"
        case .headerNotObject:
            what = "header JSON is not an object of tensors; the file is corrupt"
        case let .invalidEntry(tensor, problem):
            what = "header entry \"\(tensor)\": \(problem)"
        case let .byteCountMismatch(tensor, expected, actual):
            what = "tensor \"\(tensor)\": shape and dtype need \(expected) bytes but its offsets span \(actual)"
        case let .dataOutOfRange(tensor, end, dataSize):
            what = "tensor \"\(tensor)\" ends at data byte \(end) but the data section has \(dataSize) bytes; the file is truncated"
        case let .overlappingTensors(a, b):
            what = "tensors \"\(a)\" and \"\(b)\" overlap; the file is corrupt"
        case let .unclaimedData(offset, length):
            what = "\(length) bytes of data at offset \(offset) belong to no tensor; the file is corrupt"
        case let .tensorNotFound(name):
            what = "no tensor named \"\(name)\""
        case let .unsupportedDType(tensor, dtype):
            what = "tensor \"\(tensor)\" has dtype \(dtype), which cannot be read as floats"
        case let .io(operation, code):
            what = "cannot \(operation): \(String(cString: strerror(code)))"
        case let .notRegularFile(kind):
            what = "\(kind), not a regular file; name a .safetensors file"
        }
        if let path { return "\(path): \(what)" }
        return what
    }
}

/// A validated safetensors header.
public struct SafetensorsHeader: Equatable, Sendable {
    /// Headers larger than this are rejected before any allocation. Real headers are at most a few MiB.
    public static let maxHeaderLength = 64 << 20

    /// Tensors in data order (sorted by offset).
    public let tensors: [SafetensorsTensorInfo]
    /// `__metadata__`; non-string values (which the format does not allow but some writers emit)
    /// are kept as their JSON text.
    public let metadata: [String: String]
    /// N, the JSON length.
    public let headerLength: Int
    /// Absolute file offset of the data section: 8 + N.
    public var dataStart: Int { 8 + headerLength }
    /// Size of the data section in bytes.
    public let dataLength: Int

    private let index: [String: Int]

    public subscript(name: String) -> SafetensorsTensorInfo? {
        index[name].map { tensors[$0] }
    }

    public var tensorNames: [String] { tensors.map(\.name) }

    /// Reads the header length from the first 8 bytes and checks it against the cap and the file size.
    /// - Returns: N, the JSON length.
    public static func headerLength(prefix: some Collection<UInt8>, fileSize: Int) throws(SafetensorsError) -> Int {
        guard prefix.count >= 8, fileSize >= 8 else {
            throw SafetensorsError(.truncatedLengthPrefix(fileSize: min(fileSize, prefix.count)))
        }
        var n: UInt64 = 0
        for (shift, byte) in prefix.prefix(8).enumerated() { n |= UInt64(byte) << (8 * UInt64(shift)) }
        guard n <= UInt64(maxHeaderLength) else { throw SafetensorsError(.headerTooLarge(claimed: n, limit: maxHeaderLength)) }
        guard n <= UInt64(fileSize - 8) else { throw SafetensorsError(.headerPastEndOfFile(claimed: n, fileSize: fileSize)) }
        return Int(n)
    }

    /// Parses and validates a header.
    /// - Parameters:
    ///   - bytes: at least the first 8 + N bytes of the file (more is ignored).
    ///   - fileSize: the whole file's size, to check that every tensor lies inside it.
    public static func parse(_ bytes: some Collection<UInt8>, fileSize: Int) throws(SafetensorsError) -> SafetensorsHeader {
        let n = try headerLength(prefix: bytes, fileSize: fileSize)
        guard bytes.count >= 8 + n else {
            throw SafetensorsError(.headerPastEndOfFile(claimed: UInt64(n), fileSize: bytes.count))
        }
        let json = Array(bytes.dropFirst(8).prefix(n))
        return try parse(json: json, headerLength: n, dataLength: fileSize - 8 - n)
    }

    static func parse(json: [UInt8], headerLength: Int, dataLength: Int) throws(SafetensorsError) -> SafetensorsHeader {
        guard String(validating: json, as: UTF8.self) != nil else { throw SafetensorsError(.headerNotUTF8) }
        let root: JSONValue
        do throws(JSONParseError) {
            root = try StrictJSON.parse(json)
        } catch {
            throw SafetensorsError(.invalidJSON(error.description))
        }
        guard case let .object(members) = root else { throw SafetensorsError(.headerNotObject) }

        var tensors: [SafetensorsTensorInfo] = []
        tensors.reserveCapacity(members.count)
        var metadata: [String: String] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw SafetensorsError(.invalidEntry(tensor: name, problem: "must be an object of strings"))
                }
                for (key, item) in pairs {
                    if case let .string(text) = item { metadata[key] = text } else { metadata[key] = item.jsonText }
                }
                continue
            }
            tensors.append(try tensorInfo(name: name, value: value))
        }

        // The data section must be covered exactly: sorted by offset, no overlap, no holes, no overrun.
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var position = 0
        for (k, tensor) in tensors.enumerated() {
            let range = tensor.dataOffsets
            if range.upperBound > dataLength {
                throw SafetensorsError(.dataOutOfRange(tensor: tensor.name, end: range.upperBound, dataSize: dataLength))
            }
            if range.lowerBound < position {
                throw SafetensorsError(.overlappingTensors(tensors[k - 1].name, tensor.name))
            }
            if range.lowerBound > position {
                throw SafetensorsError(.unclaimedData(offset: position, length: range.lowerBound - position))
            }
            position = range.upperBound
        }
        if position < dataLength {
            throw SafetensorsError(.unclaimedData(offset: position, length: dataLength - position))
        }

        var index: [String: Int] = [:]
        index.reserveCapacity(tensors.count)
        for (k, tensor) in tensors.enumerated() { index[tensor.name] = k }
        return SafetensorsHeader(tensors: tensors, metadata: metadata, headerLength: headerLength,
                                 dataLength: dataLength, index: index)
    }

    private static func tensorInfo(name: String, value: JSONValue) throws(SafetensorsError) -> SafetensorsTensorInfo {
        func bad(_ problem: String) -> SafetensorsError { SafetensorsError(.invalidEntry(tensor: name, problem: problem)) }
        guard case let .object(fields) = value else { throw bad("must be an object with dtype, shape and data_offsets") }
        var dtypeValue: JSONValue?, shapeValue: JSONValue?, offsetsValue: JSONValue?
        for (key, field) in fields {
            switch key {
            case "dtype": dtypeValue = field
            case "shape": shapeValue = field
            case "data_offsets": offsetsValue = field
            default: break
            }
        }
        guard let dtypeValue else { throw bad("missing \"dtype\"") }
        guard case let .string(dtypeName) = dtypeValue, !dtypeName.isEmpty else { throw bad("\"dtype\" must be a non-empty string") }
        guard let shapeValue else { throw bad("missing \"shape\"") }
        guard case let .array(dims) = shapeValue else { throw bad("\"shape\" must be an array of non-negative integers") }
        guard let offsetsValue else { throw bad("missing \"data_offsets\"") }
        guard case let .array(offsets) = offsetsValue, offsets.count == 2,
              let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt else {
            throw bad("\"data_offsets\" must be [begin, end] with non-negative integers")
        }
        guard begin <= end else { throw bad("\"data_offsets\" begin \(begin) is after end \(end)") }

        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        var elements = 1
        for dim in dims {
            guard let d = dim.nonNegativeInt else { throw bad("\"shape\" must be an array of non-negative integers") }
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(dims.map(\.jsonText)) has too many elements") }
            elements = product
            shape.append(d)
        }
        let dtype = SafetensorsDType(name: dtypeName)
        if let size = dtype.byteSize {
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else { throw bad("shape \(shape) has too many elements") }
            guard bytes == end - begin else {
                throw SafetensorsError(.byteCountMismatch(tensor: name, expected: bytes, actual: end - begin))
            }
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// Reads and validates only the header of a file (8 + N bytes), never its tensor data.
    /// Cheap enough to run over thousands of LoRA files.
    public static func read(at path: String) throws(SafetensorsError) -> SafetensorsHeader {
        let fd = try openForReading(path)
        defer { close(fd) }
        do throws(SafetensorsError) {
            let size = try fileSize(fd)
            var prefix = [UInt8](repeating: 0, count: 8)
            let got = try readFully(fd, into: &prefix, at: 0)
            let n = try headerLength(prefix: prefix.prefix(got), fileSize: size)
            var json = [UInt8](repeating: 0, count: n)
            let read = try readFully(fd, into: &json, at: 8)
            guard read == n else { throw SafetensorsError(.headerPastEndOfFile(claimed: UInt64(n), fileSize: 8 + read)) }
            return try parse(json: json, headerLength: n, dataLength: size - 8 - n)
        } catch {
            throw error.at(path)
        }
    }

    /// Opens without blocking (a FIFO would wait for a writer) and only a regular file.
    static func openForReading(_ path: String) throws(SafetensorsError) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SafetensorsError(.io(operation: "open the file", errno: errno), path: path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw SafetensorsError(.io(operation: "stat the file", errno: code), path: path)
        }
        if let kind = RegularFile.kind(ofMode: info.st_mode) {
            close(fd)
            throw SafetensorsError(.notRegularFile(kind: kind), path: path)
        }
        return fd
    }

    static func fileSize(_ fd: Int32) throws(SafetensorsError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SafetensorsError(.io(operation: "stat the file", errno: errno)) }
        if let kind = RegularFile.kind(ofMode: info.st_mode) { throw SafetensorsError(.notRegularFile(kind: kind)) }
        return Int(info.st_size)
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer only at end of file).
    static func readFully(_ fd: Int32, into buffer: inout [UInt8], at offset: Int) throws(SafetensorsError) -> Int {
        var done = 0
        while done < buffer.count {
            let got = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw SafetensorsError(.io(operation: "read the file", errno: errno))
            }
            if got == 0 { break }
            done += got
        }
        return done
    }
}

/// Convenience for the catalog's folder scanner: header only, no tensor data.
public func readSafetensorsHeader(at path: String) throws(SafetensorsError) -> SafetensorsHeader {
    try SafetensorsHeader.read(at: path)
}
