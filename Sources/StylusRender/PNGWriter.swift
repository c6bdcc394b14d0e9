import CZlib
import Foundation

/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, pixels.count == width * height * 3 else {
            throw RenderError.invalidArgument(
                "an RGB image of \(width)x\(height) needs \(max(0, width * height * 3)) bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// From planar [3, H, W] floats in [0, 1] (the VAE output mapped by (x+1)/2), rounded like
    /// diffusers' `numpy_to_pil` ((x·255).round()); NaN becomes 0.
    public init(planar: [Float], width: Int, height: Int) throws {
        let plane = width * height
        guard planar.count == 3 * plane else {
            throw RenderError.invalidArgument("a \(width)x\(height) RGB image needs \(3 * plane) values, got \(planar.count)")
        }
        var px = [UInt8](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            for i in 0..<plane {
                let v = planar[c * plane + i]
                px[i * 3 + c] = v.isNaN ? 0 : UInt8((min(max(v, 0), 1) * 255).rounded())
            }
        }
        try self.init(width: width, height: height, pixels: px)
    }
}

/// Encodes PNG files: RGB8, adaptive row filters, zlib from the system, and text chunks
/// (tEXt when the text is Latin-1, otherwise uncompressed UTF-8 iTXt, as PIL does for A1111).
public enum PNGWriter {
    public static func encode(_ image: RGBImage, text: [(key: String, value: String)] = []) throws -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header += bigEndian(UInt32(image.width)) + bigEndian(UInt32(image.height))
        header += [8, 2, 0, 0, 0]  // 8 bits, RGB, deflate, adaptive filters, no interlace
        appendChunk(&out, "IHDR", header)
        for (key, value) in text {
            let keyBytes = Array(key.utf8)
            guard (1...79).contains(keyBytes.count), keyBytes.allSatisfy({ $0 >= 32 && $0 < 127 }) else {
                throw RenderError.invalidArgument("PNG text key must be 1-79 printable ASCII characters: \(key)")
            }
            if let latin1 = latin1(value) {
                appendChunk(&out, "tEXt", keyBytes + [0] + latin1)
            } else {
                // keyword, 0, compression flag 0, method 0, empty language tag, 0, empty translated keyword, 0
                appendChunk(&out, "iTXt", keyBytes + [0, 0, 0, 0, 0] + Array(value.utf8))
            }
        }
        appendChunk(&out, "IDAT", try deflate(filteredRows(image)))
        appendChunk(&out, "IEND", [])
        return out
    }

    /// Writes the PNG to `path`, never replacing an existing file.
    public static func write(_ image: RGBImage, text: [(key: String, value: String)] = [], to path: String) throws {
        let bytes = try encode(image, text: text)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "already exists; not overwriting it" : String(cString: strerror(errno))
            throw RenderError.unreadableFile(path: path, reason: "cannot create the image: \(reason)")
        }
        defer { close(fd) }
        var written = 0
        try bytes.withUnsafeBytes { buf in
            while written < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + written, buf.count - written)
                guard n > 0 else {
                    throw RenderError.unreadableFile(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
                }
                written += n
            }
        }
    }

    /// Each row gets the filter (None, Sub, Up, Average, Paeth) with the smallest sum of
    /// absolute signed bytes, the usual heuristic.
    static func filteredRows(_ image: RGBImage) -> [UInt8] {
        let stride = image.width * 3
        var out = [UInt8]()
        out.reserveCapacity((stride + 1) * image.height)
        var candidates = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 5)
        image.pixels.withUnsafeBufferPointer { px in
            for y in 0..<image.height {
                let row = y * stride, up = (y - 1) * stride
                for i in 0..<stride {
                    let x = px[row + i]
                    let a = i >= 3 ? px[row + i - 3] : 0
                    let b = y > 0 ? px[up + i] : 0
                    let c = (y > 0 && i >= 3) ? px[up + i - 3] : 0
                    candidates[0][i] = x
                    candidates[1][i] = x &- a
                    candidates[2][i] = x &- b
                    candidates[3][i] = x &- UInt8((Int(a) + Int(b)) / 2)
                    candidates[4][i] = x &- paeth(a, b, c)
                }
                var best = 0, bestCost = Int.max
                for f in 0..<5 {
                    let cost = candidates[f].reduce(0) { $0 + abs(Int(Int8(bitPattern: $1))) }
                    if cost < bestCost { best = f; bestCost = cost }
                }
                out.append(UInt8(best))
                out += candidates[best]
            }
        }
        return out
    }

    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    static func deflate(_ data: [UInt8]) throws -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in compress2(o.baseAddress, &size, i.baseAddress, uLong(i.count), 6) }
        }
        guard status == Z_OK else { throw RenderError.invalidArgument("zlib compress2 failed with status \(status)") }
        return Array(out.prefix(Int(size)))
    }

    private static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        let typeBytes = Array(type.utf8)
        out += bigEndian(UInt32(data.count))
        out += typeBytes
        out += data
        var crc = typeBytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        out += bigEndian(UInt32(crc))
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func latin1(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        for u in s.unicodeScalars {
            guard u.value < 256 else { return nil }
            out.append(UInt8(u.value))
        }
        return out
    }
}
