import CZlib

/// Reads a whole gzip file through the system zlib (Foundation on Linux has no compression API).
package func readGzipFile(_ path: String) throws -> [UInt8] {
    guard let file = gzopen(path, "rb") else {
        throw RenderError.unreadableFile(path: path, reason: "cannot open it")
    }
    defer { gzclose(file) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if n < 0 {
            var code: Int32 = 0
            let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
            throw RenderError.unreadableFile(path: path, reason: "not a valid gzip file (\(message))")
        }
        if n == 0 { break }
        out.append(contentsOf: buffer[0..<Int(n)])
    }
    return out
}
