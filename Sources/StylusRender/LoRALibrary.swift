import Foundation
import StylusML

/// Finds LoRA files by the name written in `<lora:name:…>`: the file stem first (as A1111), then
/// the `ss_output_name` alias in the safetensors metadata, across the given folders (recursively).
public struct LoRALibrary: Sendable {
    public let directories: [String]
    public let files: [String]

    public init(directories: [String]) {
        self.directories = directories
        var found: [String] = []
        for dir in directories {
            guard let walker = FileManager.default.enumerator(atPath: dir) else { continue }
            while let relative = walker.nextObject() as? String {
                if relative.lowercased().hasSuffix(".safetensors") { found.append(dir + "/" + relative) }
            }
        }
        files = found.sorted()
    }

    /// The file for `name`, nil when no folder has it.
    public func resolve(_ name: String) -> String? {
        func stem(_ path: String) -> String { URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
        if let exact = files.first(where: { stem($0) == name }) { return exact }
        if let folded = files.first(where: { stem($0).lowercased() == name.lowercased() }) { return folded }
        return files.first { (try? readSafetensorsHeader(at: $0))?.metadata["ss_output_name"] == name }
    }
}

extension LoRAFile {
    /// A1111's short "Lora hashes" value: the first 12 hex digits of the addnet hash (SHA-256 of
    /// the bytes after the safetensors header).
    public func addnetShortHash() throws -> String {
        String(SHA256.hex(try SHA256.file(path, from: UInt64(file.header.dataStart))).prefix(12))
    }
}
