import Foundation
import XCTest

/// Runs the built `stylus` executable as a real process.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The run was stopped at its deadline (a hang): tests fail on it.
    var timedOut = false
}

enum CLI {
    /// The `stylus` binary next to the test bundle (same build folder and configuration).
    static var executable: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("stylus")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("stylus")
    }

    @discardableResult
    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                    timeout: Double? = nil) throws -> CLIResult {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        return try run(arguments, stdin: stdin, replacingEnvironment: env, timeout: timeout)
    }

    /// Runs with exactly `replacingEnvironment` (to leave variables unset). With `timeout`, a run
    /// still going then is killed and marked `timedOut`.
    static func run(_ arguments: [String], stdin: Data? = nil, replacingEnvironment env: [String: String],
                    timeout: Double? = nil) throws -> CLIResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        // Read both pipes concurrently so a large output cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        nonisolated(unsafe) var timedOut = false
        if let timeout {
            let exited = DispatchSemaphore(value: 0)
            DispatchQueue.global().async { process.waitUntilExit(); exited.signal() }
            if exited.wait(timeout: .now() + timeout) == .timedOut {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
            }
        }
        process.waitUntilExit()
        group.wait()
        return CLIResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self), timedOut: timedOut)
    }

    static func temporaryFile(_ name: String, _ contents: Data) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-cli-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try contents.write(to: url)
        return url
    }
}
