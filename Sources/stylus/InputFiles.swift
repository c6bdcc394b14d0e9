import Foundation
import StylusCore

/// Reading prompt files for the CLI: clear errors naming the file, never a crash.
enum InputFiles {
    /// Prompt files larger than this are refused (a prompt is text a person writes).
    static let maxPromptBytes = 64 << 20

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads `path` (or stdin for `-`) as UTF-8 prompt text.
    static func readPrompt(_ path: String) throws -> String {
        let bytes: [UInt8]
        if path == "-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw Failure(description: "\(path): no such file")
            }
            guard !isDirectory.boolValue else { throw Failure(description: "\(path): is a directory, not a prompt file") }
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw Failure(description: "\(path): cannot be read (check its permissions)")
            }
            defer { try? handle.close() }
            let data = (try? handle.read(upToCount: maxPromptBytes + 1)) ?? Data()
            bytes = Array(data)
        }
        if bytes.count > maxPromptBytes {
            throw Failure(description: "\(path): larger than \(maxPromptBytes >> 20) MB; a prompt file should be a few KB of text")
        }
        do {
            return try PromptFile.decode(bytes)
        } catch {
            throw Failure(description: "\(path): \(error)")
        }
    }
}
