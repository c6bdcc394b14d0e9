// A memory-mapped safetensors file: the header is validated once, tensor bytes are paged in on demand.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file mapped read-only into memory. Unmapped when the last reference goes away.
///
/// Immutable after `init`, so it is safe to share between threads.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let header: SafetensorsHeader
    private let base: UnsafeRawPointer
    private let mappedLength: Int

    public init(path: String) throws(SafetensorsError) {
        self.path = path
        let fd = try SafetensorsHeader.openForReading(path)
        defer { close(fd) }
        let size: Int
        do throws(SafetensorsError) { size = try SafetensorsHeader.fileSize(fd) } catch { throw error.at(path) }
        guard size >= 8 else { throw SafetensorsError(.truncatedLengthPrefix(fileSize: size), path: path) }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw SafetensorsError(.io(operation: "map the file into memory", errno: errno), path: path)
        }
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(mapped), count: size)
        do throws(SafetensorsError) {
            header = try SafetensorsHeader.parse(bytes, fileSize: size)
        } catch {
            munmap(mapped, size)
            throw error.at(path)
        }
        base = UnsafeRawPointer(mapped)
        mappedLength = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    public var tensorNames: [String] { header.tensorNames }

    public func info(_ name: String) throws(SafetensorsError) -> SafetensorsTensorInfo {
        guard let info = header[name] else { throw SafetensorsError(.tensorNotFound(name), path: path) }
        return info
    }

    /// The raw bytes of a tensor, valid while this file object is alive.
    public func rawBytes(_ name: String) throws(SafetensorsError) -> UnsafeRawBufferPointer {
        let info = try info(name)
        return UnsafeRawBufferPointer(start: base + header.dataStart + info.dataOffsets.lowerBound, count: info.byteCount)
    }

    /// Drops the pages of a tensor from this process's memory (after copying it out): they stay
    /// in the page cache and come back from the file if read again, so loading a model does not
    /// keep both the file's pages and the copies resident.
    public func release(_ name: String) {
        guard let raw = try? rawBytes(name), let start = raw.baseAddress else { return }
        let page = Int(getpagesize())
        let from = (Int(bitPattern: start) + page - 1) / page * page
        let to = (Int(bitPattern: start) + raw.count) / page * page
        if to > from { madvise(UnsafeMutableRawPointer(bitPattern: from), to - from, MADV_DONTNEED) }
    }

    /// A tensor's elements as Float (f64/f16/bf16 converted), in the file's row-major order.
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        let info = try info(name)
        let raw = try rawBytes(name)
        let count = info.elementCount
        guard info.dtype.isConvertibleToFloat else {
            throw SafetensorsError(.unsupportedDType(tensor: name, dtype: info.dtype.name), path: path)
        }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            SafetensorsFile.convert(raw, dtype: info.dtype, into: out.baseAddress!, count: count)
            initialized = count
        }
    }

    /// Calls `body` with the tensor's elements as Float. For little-endian, 4-byte-aligned f32 data
    /// this points straight into the mapping (no copy); other types are converted into a temporary.
    public func withFloats<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        let info = try info(name)
        let raw = try rawBytes(name)
        if info.dtype == .f32, Int(bitPattern: raw.baseAddress) % MemoryLayout<Float>.alignment == 0 {
            let pointer = raw.baseAddress?.assumingMemoryBound(to: Float.self)
            return try body(UnsafeBufferPointer(start: pointer, count: info.elementCount))
        }
        let copy = try floats(name)
        return try copy.withUnsafeBufferPointer(body)
    }

    /// Converts `count` little-endian elements of `dtype` from `raw` to Float.
    static func convert(_ raw: UnsafeRawBufferPointer, dtype: SafetensorsDType, into out: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0, let src = raw.baseAddress else { return }
        switch dtype {
        case .f32:
            // memcpy handles any alignment.
            memcpy(out, src, count * 4)
        case .f16:
            for k in 0..<count {
                let bits = src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
                out[k] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
            }
        case .bf16:
            for k in 0..<count {
                let bits = src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
                out[k] = Float(bitPattern: UInt32(UInt16(littleEndian: bits)) << 16)
            }
        case .f64:
            for k in 0..<count {
                let bits = src.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)
                out[k] = Float(Double(bitPattern: UInt64(littleEndian: bits)))
            }
        default:
            break
        }
    }
}
