import Foundation

/// Reads a file line by line in fixed-size chunks, so a 1 GB JSONL never sits in memory whole.
/// Lines longer than `maxLineBytes` are reported as too long instead of growing without bound.
struct LineReader {
    enum Line {
        case text(number: Int, bytes: ArraySlice<UInt8>)
        case tooLong(number: Int)
    }

    let handle: FileHandle
    let path: String
    let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private var lineNumber = 0
    private var discarding = false

    init(path: String, maxLineBytes: Int = 64 << 20) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
              let h = FileHandle(forReadingAtPath: path) else {
            throw CatalogError.unreadableInput(path: path, reason: Self.openFailureReason(path))
        }
        handle = h
        self.path = path
        self.maxLineBytes = maxLineBytes
    }

    static func openFailureReason(_ path: String) -> String {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDir) { return "no such file" }
        if isDir.boolValue { return "is a directory" }
        return "permission denied"
    }

    mutating func next() throws -> Line? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                var end = nl
                if end > start, buffer[end - 1] == 0x0D { end -= 1 }
                let slice = buffer[start..<end]
                start = nl + 1
                lineNumber += 1
                if discarding {
                    discarding = false
                    return .tooLong(number: lineNumber)
                }
                return .text(number: lineNumber, bytes: slice)
            }
            if eof {
                guard start < buffer.count || discarding else { return nil }
                let slice = buffer[start...]
                start = buffer.count
                lineNumber += 1
                if discarding {
                    discarding = false
                    return .tooLong(number: lineNumber)
                }
                return .text(number: lineNumber, bytes: slice)
            }
            // Compact, then read more.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            if buffer.count > maxLineBytes {
                buffer.removeAll(keepingCapacity: true)
                discarding = true
            }
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            } catch {
                throw CatalogError.unreadableInput(path: path, reason: error.localizedDescription)
            }
            if chunk.isEmpty { eof = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
