import CZlib
import Foundation

/// Where rendered images go and how their bytes are written: `<stem>-<n>.png` beside the prompt
/// file, numbered after the highest existing one, created exclusively so nothing is ever replaced.
public enum RenderOutput {
    /// Writes `bytes` to the first free path of the series and returns it. `explicit` (the CLI's
    /// `--out`) is tried as given first; otherwise the series starts at `<dir>/<stem>-<next n>.png`.
    public static func writeNew(_ bytes: [UInt8], beside promptPath: String, explicit: String? = nil) throws -> String {
        if let explicit {
            if try create(explicit, bytes) { return explicit }
            let url = URL(fileURLWithPath: explicit)
            return try writeSeries(bytes, directory: url.deletingLastPathComponent().path,
                                   stem: url.deletingPathExtension().lastPathComponent)
        }
        let url = URL(fileURLWithPath: promptPath)
        return try writeSeries(bytes, directory: url.deletingLastPathComponent().path,
                               stem: url.deletingPathExtension().lastPathComponent)
    }

    /// The n of the next `<stem>-<n>.png` in `directory` (1 + the highest present). Throws when the
    /// highest is `Int.max`, so no later number exists.
    public static func nextNumber(directory: String, stem: String) throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let prefix = stem + "-"
        var highest = 0, highestName = ""
        for name in names where name.hasPrefix(prefix) && name.lowercased().hasSuffix(".png") {
            let digits = name.dropFirst(prefix.count).dropLast(4)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits), n > highest else { continue }
            (highest, highestName) = (n, name)
        }
        let (next, overflow) = highest.addingReportingOverflow(1)
        guard !overflow else { throw seriesFull(directory: directory, stem: stem, highestName: highestName) }
        return next
    }

    private static func seriesFull(directory: String, stem: String, highestName: String) -> RenderError {
        .unreadableFile(path: directory + "/" + highestName,
                        reason: "no \(stem)-<n>.png number is left after this one; rename or move it, or render with --out")
    }

    private static func writeSeries(_ bytes: [UInt8], directory: String, stem: String) throws -> String {
        var n = try nextNumber(directory: directory, stem: stem)
        for _ in 0..<10_000 {  // another writer may take a number between the scan and the create
            let path = directory + "/" + stem + "-\(n).png"
            if try create(path, bytes) { return path }
            let (next, overflow) = n.addingReportingOverflow(1)
            guard !overflow else { throw seriesFull(directory: directory, stem: stem, highestName: stem + "-\(n).png") }
            n = next
        }
        throw RenderError.unreadableFile(path: directory, reason: "no free \(stem)-<n>.png name")
    }

    /// Creates `path` with O_EXCL; false when it already exists.
    private static func create(_ path: String, _ bytes: [UInt8]) throws -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if fd < 0 {
            if errno == EEXIST { return false }
            throw RenderError.unreadableFile(path: path, reason: "cannot create the image (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n <= 0 {
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw RenderError.unreadableFile(path: path, reason: "cannot write the image (\(reason))")
            }
            written += n
        }
        return true
    }
}

/// Reading and adding PNG text chunks in images that came from elsewhere (the A1111 backend).
public enum PNGText {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The chunks (type, data) of a PNG; nil when the bytes are not a well-formed PNG.
    static func chunks(_ png: [UInt8]) -> [(type: String, data: ArraySlice<UInt8>)]? {
        guard png.count >= 8, Array(png[0..<8]) == signature else { return nil }
        var out: [(String, ArraySlice<UInt8>)] = []
        var i = 8
        while i + 12 <= png.count {
            let length = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            guard length <= png.count - i - 12 else { return nil }
            let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
            out.append((type, png[(i + 8)..<(i + 8 + length)]))
            i += 12 + length
            if type == "IEND" { return out }
        }
        return nil
    }

    /// `tEXt` chunks as key → value (Latin-1 per the PNG spec; A1111 writes UTF-8 in iTXt too).
    public static func textChunks(_ png: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        for chunk in chunks(png) ?? [] where chunk.type == "tEXt" || chunk.type == "iTXt" {
            guard let zero = chunk.data.firstIndex(of: 0) else { continue }
            let key = String(decoding: chunk.data[chunk.data.startIndex..<zero], as: UTF8.self)
            var value = chunk.data[(zero + 1)...]
            if chunk.type == "iTXt" {
                // compression flag, method, language\0, translated keyword\0, text (uncompressed only)
                guard value.count >= 2, value[value.startIndex] == 0 else { continue }
                value = value.dropFirst(2)
                for _ in 0..<2 {
                    guard let z = value.firstIndex(of: 0) else { break }
                    value = value[(z + 1)...]
                }
                result[key] = String(decoding: value, as: UTF8.self)
            } else {
                result[key] = String(value.map { Character(Unicode.Scalar($0)) })
            }
        }
        return result
    }

    /// The PNG with an uncompressed UTF-8 `iTXt` chunk `key` added right after IHDR.
    public static func adding(_ key: String, _ value: String, to png: [UInt8]) -> [UInt8]? {
        guard let list = chunks(png), list.first?.type == "IHDR" else { return nil }
        var data = Array(key.utf8) + [0, 0, 0, 0, 0] + Array(value.utf8)
        var chunk: [UInt8] = []
        let n = UInt32(data.count)
        chunk += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        data = Array("iTXt".utf8) + data
        let crc = data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        chunk += data + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        let afterHeader = 8 + 12 + list[0].data.count
        return Array(png[0..<afterHeader]) + chunk + Array(png[afterHeader...])
    }
}
