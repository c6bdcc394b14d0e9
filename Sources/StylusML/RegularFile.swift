#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that a user, a folder or a catalog card names may be anything: opening a FIFO for reading
/// waits for a writer forever, a device never ends. They are opened non-blocking and must be
/// regular files before a byte is read.
public enum RegularFile {
    /// What a non-regular file is ("a FIFO", "a folder", …); nil for a regular file.
    public static func kind(ofMode mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFIFO: "a FIFO"
        case S_IFDIR: "a folder"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "not a plain file"
        }
    }

    /// Why `path` cannot be read as a regular file (following symlinks, as opening does), or nil
    /// when it can be. Does not open it.
    public static func problem(at path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return String(cString: strerror(errno)) }
        return kind(ofMode: info.st_mode).map { "\($0), not a regular file" }
    }

    /// A read-only descriptor of the regular file at `path`; the caller closes it. Never blocks.
    public static func openForReading(_ path: String) -> Result<Int32, RegularFileError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(RegularFileError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failure(RegularFileError(path: path, reason: "cannot stat: \(reason)"))
        }
        if let kind = kind(ofMode: info.st_mode) {
            close(fd)
            return .failure(RegularFileError(path: path, reason: "\(kind), not a regular file", isNotRegular: true))
        }
        return .success(fd)
    }
}

public struct RegularFileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var isNotRegular = false
    public var description: String { "\(path): \(reason)" }
}
