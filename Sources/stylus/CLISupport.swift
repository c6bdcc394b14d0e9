import ArgumentParser
import Foundation

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
