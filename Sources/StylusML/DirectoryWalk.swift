#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A walk of a folder tree that stays inside it: symlinks are followed only when they lead to a
/// place inside the folder being walked (each folder once, so loops end), entries are read as
/// bytes so names that are not UTF-8 are reported rather than lost, nothing but regular files is
/// returned, and the walk stops after a bounded number of entries. Every entry it skips that could
/// matter (a matching file, a symlink, a name it cannot represent) is reported by path.
public struct DirectoryWalk: Sendable {
    public struct Skipped: Sendable, Equatable {
        public var path: String
        public var reason: String
    }

    /// Regular files whose name `matches`, in walk order (paths under the given root, not resolved).
    public var files: [String] = []
    public var skipped: [Skipped] = []
    /// True when the walk stopped at `maxEntries`.
    public var truncated = false

    /// Roots that would walk a whole system: `/` and the top-level system folders.
    public static let refusedRoots: Set<String> = ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc",
                                                   "/run", "/sbin", "/sys", "/usr", "/var"]

    /// Why `root` is not walked ("/ is the whole disk"), or nil.
    public static func refusal(forRoot root: String) -> String? {
        guard let real = realPath(root) else { return nil }
        if refusedRoots.contains(real) {
            return "\(root) is \(real == "/" ? "the whole disk" : "a system folder"); give the folder that holds the files"
        }
        return nil
    }

    /// Walks `root` (a refused root is reported, not walked). `matches` picks the files to return;
    /// `reportable` the names worth a report when they are skipped (hidden or not regular files).
    public init(root: String, maxEntries: Int = 200_000, maxDepth: Int = 64,
                matches: (String) -> Bool, reportable: (String) -> Bool) {
        guard let realRoot = DirectoryWalk.realPath(root) else {
            skipped.append(Skipped(path: root, reason: "no such folder"))
            return
        }
        if let refusal = DirectoryWalk.refusal(forRoot: root) {
            skipped.append(Skipped(path: root, reason: "not walked: \(refusal)"))
            return
        }
        let inside = realRoot == "/" ? "/" : realRoot + "/"
        var visited = Set<[UInt64]>()
        var stack: [(path: String, depth: Int)] = [(root, 0)]
        var seen = 0
        if let id = DirectoryWalk.identity(root) { visited.insert(id) }
        while let (dir, depth) = stack.popLast() {
            guard let handle = opendir(dir) else {
                skipped.append(Skipped(path: dir, reason: "cannot read folder: \(String(cString: strerror(errno)))"))
                continue
            }
            defer { closedir(handle) }
            var names: [[UInt8]] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    Array(raw.prefix { $0 != 0 })
                }
                if name == [0x2E] || name == [0x2E, 0x2E] { continue }
                names.append(name)
            }
            names.sort { $0.lexicographicallyPrecedes($1) }
            for raw in names {
                seen += 1
                if seen > maxEntries {
                    truncated = true
                    skipped.append(Skipped(path: root, reason: "stopped after \(maxEntries) entries; give a smaller folder"))
                    return
                }
                guard let name = String(validating: raw, as: UTF8.self) else {
                    skipped.append(Skipped(path: dir + "/" + DirectoryWalk.escaped(raw), reason: "file name is not valid UTF-8; skipped"))
                    continue
                }
                let path = dir + "/" + name
                if name.hasPrefix(".") {
                    if reportable(name) { skipped.append(Skipped(path: path, reason: "hidden file; skipped")) }
                    continue
                }
                var link = stat()
                guard lstat(path, &link) == 0 else { continue }
                var info = link
                if link.st_mode & S_IFMT == S_IFLNK {
                    guard let target = DirectoryWalk.realPath(path), stat(path, &info) == 0 else {
                        skipped.append(Skipped(path: path, reason: "broken symlink; skipped"))
                        continue
                    }
                    guard target == realRoot || target.hasPrefix(inside) else {
                        skipped.append(Skipped(path: path, reason: "symlink to \(target), outside \(root); not followed"))
                        continue
                    }
                }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    let id = [UInt64(info.st_dev), UInt64(info.st_ino)]
                    guard visited.insert(id).inserted else {
                        skipped.append(Skipped(path: path, reason: "folder already walked (symlink loop or second link); skipped"))
                        continue
                    }
                    guard depth + 1 <= maxDepth else {
                        skipped.append(Skipped(path: path, reason: "nested deeper than \(maxDepth) folders; skipped"))
                        continue
                    }
                    stack.append((path, depth + 1))
                case S_IFREG:
                    if matches(name) { files.append(path) }
                default:
                    if reportable(name), let kind = RegularFile.kind(ofMode: info.st_mode) {
                        skipped.append(Skipped(path: path, reason: "\(kind), not a regular file; skipped"))
                    }
                }
            }
        }
    }

    static func identity(_ path: String) -> [UInt64]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    /// `realpath(3)`: the absolute path with every symlink resolved, nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// A name that is not UTF-8, readable: valid parts as they are, other bytes as `\xFF`.
    static func escaped(_ raw: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        var i = 0
        while i < raw.count {
            var matched = false
            for length in 1...4 where i + length <= raw.count {
                if let s = String(validating: raw[i..<i + length], as: UTF8.self) {
                    out += s
                    i += length
                    matched = true
                    break
                }
            }
            if !matched {
                out += "\\x" + String(hex[Int(raw[i] >> 4)]) + String(hex[Int(raw[i] & 0xF)])
                i += 1
            }
        }
        return out
    }
}
