import Foundation
import StylusML

/// Finds LoRA files by the name written in `<lora:name:…>`: the file stem first (as A1111), then
/// the `ss_output_name` alias in the safetensors metadata, across the given folders (recursively).
/// The folders are walked only when a name must be resolved (or `files` is asked for), with
/// StylusML's bounded `DirectoryWalk`: `/` and system folders are refused, symlinks leading out of
/// a folder are not followed; `notes` says what was refused or skipped.
public struct LoRALibrary: Sendable {
    public let directories: [String]
    /// Entries a walk looks at per folder before it stops.
    public static let maxEntries = 100_000
    private let walked = Walked()

    public init(directories: [String]) {
        self.directories = directories
    }

    /// Every `.safetensors` file in the folders, sorted.
    public var files: [String] { walked.get(directories).files }

    /// Folders refused and files skipped, as "path: reason".
    public var notes: [String] { walked.get(directories).notes }

    /// The names `<lora:name:…>` resolves to a file here, lowercased: every file stem and
    /// `ss_output_name` alias (reads each file's header once).
    public var names: Set<String> {
        var out = Set<String>()
        for path in files {
            out.insert(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.lowercased())
            if let alias = (try? readSafetensorsHeader(at: path))?.metadata["ss_output_name"], !alias.isEmpty { out.insert(alias.lowercased()) }
        }
        return out
    }

    /// The file for `name`, nil when no folder has it.
    public func resolve(_ name: String) -> String? {
        let files = self.files
        func stem(_ path: String) -> String { URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
        if let exact = files.first(where: { stem($0) == name }) { return exact }
        if let folded = files.first(where: { stem($0).lowercased() == name.lowercased() }) { return folded }
        return files.first { (try? readSafetensorsHeader(at: $0))?.metadata["ss_output_name"] == name }
    }

    /// The walk's result, computed once.
    private final class Walked: @unchecked Sendable {
        private let lock = NSLock()
        private var result: (files: [String], notes: [String])?

        func get(_ directories: [String]) -> (files: [String], notes: [String]) {
            lock.lock(); defer { lock.unlock() }
            if let result { return result }
            var found: [String] = [], notes: [String] = []
            func isModel(_ name: String) -> Bool { name.lowercased().hasSuffix(".safetensors") }
            for dir in directories {
                if let refusal = DirectoryWalk.refusal(forRoot: dir) {
                    notes.append("\(dir): not searched: \(refusal)")
                    continue
                }
                let walk = DirectoryWalk(root: dir, maxEntries: LoRALibrary.maxEntries, matches: isModel, reportable: isModel)
                found += walk.files
                notes += walk.skipped.map { "\($0.path): \($0.reason)" }
            }
            let r = (found.sorted(), notes)
            result = r
            return r
        }
    }
}

extension LoRAFile {
    /// A1111's short "Lora hashes" value: the first 12 hex digits of the addnet hash (SHA-256 of
    /// the bytes after the safetensors header).
    public func addnetShortHash() throws -> String {
        String(SHA256.hex(try SHA256.file(path, from: UInt64(file.header.dataStart))).prefix(12))
    }
}
