import ArgumentParser
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes of docs/CONTRACTS.md, CLI: 0 success, 1 runtime failure, 2 usage or bad input.
enum CLIExit {
    static let runtimeFailure = ExitCode(1)
    static let badInput = ExitCode(2)
}

/// Writes one line to stderr (stdout is reserved for results and, under `lsp`, the protocol).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes to stdout. The CLI layer is the only place that prints results.
func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// CPU seconds (all threads) this process has used: benchmarks quote it beside wall time because
/// it holds up on shared cores.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// For the protocol servers (`lsp`, `mcp`): stdout belongs to the protocol. Returns a descriptor
/// of the real stdout for messages and points fd 1 at stderr, so a stray print anywhere cannot
/// corrupt the stream; a vanished client becomes a write error, not SIGPIPE. Logs go to stderr at `level`.
func protocolStdout(command: String, logLevel: String, default fallback: Logger.Level) throws -> Int32 {
    let protocolOut = dup(STDOUT_FILENO)
    guard protocolOut >= 0, dup2(STDERR_FILENO, STDOUT_FILENO) >= 0 else {
        printError("stylus \(command): cannot set up stdout (\(String(cString: strerror(errno))))")
        throw CLIExit.runtimeFailure
    }
    signal(SIGPIPE, SIG_IGN)
    let level = Logger.Level(rawValue: logLevel.lowercased()) ?? fallback
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return protocolOut
}
