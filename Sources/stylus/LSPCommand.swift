import ArgumentParser
import Foundation
import JSONRPC
import LSP
import Logging
import StylusCore
import StylusRender
#if canImport(Glibc)
import Glibc
#endif

struct LSPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp", abstract: "Run the language server for .sdprompt files over stdio.")

    @Flag(name: .customLong("stdio"), help: "Use stdin/stdout (the default; accepted for editors that pass it).")
    var stdio = false

    @Option(name: .customLong("log-level"), help: "Log level on stderr: trace, debug, info, warning, error.")
    var logLevel: String = "info"

    func run() throws {
        let protocolOut = try protocolStdout(command: "lsp", logLevel: logLevel, default: .info)
        let logger = Logger(label: "stylus.lsp")

        let transport = FileDescriptorTransport(readFD: STDIN_FILENO, writeFD: protocolOut)
        let connection = Connection(transport: transport, log: { level, message in
            switch level {
            case .debug: logger.debug("\(message)")
            case .warning: logger.warning("\(message)")
            case .error: logger.error("\(message)")
            }
        })
        var options = LanguageServer.Options()
        let vocabulary = DataPaths(environment: ProcessInfo.processInfo.environment).clipVocabPath
        if FileManager.default.fileExists(atPath: vocabulary) {
            options.tokenCounter = BackgroundTokenCounter(vocabularyPath: vocabulary, logger: logger)
        } else {
            logger.warning("token-limit checks are off: no CLIP vocabulary at \(vocabulary); run scripts/setup")
        }
        options.renderCommand = RenderCommandHandler(session: RenderSession(configuration: .installed()))
        let server = LanguageServer(connection: connection, options: options, logger: logger)
        transport.startReading(into: connection)

        // ParsableCommand is synchronous: wait here for the async server to finish.
        let done = DispatchSemaphore(value: 0)
        let code = Locked<Int32>(1)
        Task {
            let c = await server.run()
            code.withLock { $0 = c }
            done.signal()
        }
        done.wait()
        Glibc.exit(code.current)
    }
}

/// The CLIP tokenizer for `token-limit`, loaded on a thread of its own: reading the vocabulary
/// takes a few hundred milliseconds, and the server should answer `initialize` at once. Counting
/// waits for the load (the first diagnostics come after the 150 ms debounce anyway).
final class BackgroundTokenCounter: PromptTokenCounter, @unchecked Sendable {
    private let condition = NSCondition()
    private var done = false
    private var tokenizer: ClipTokenizer?

    init(vocabularyPath: String, logger: Logger) {
        Thread.detachNewThread { [self] in
            var loaded: ClipTokenizer?
            do { loaded = try ClipTokenizer(vocabularyPath: vocabularyPath) } catch {
                logger.warning("token-limit checks are off: cannot load the CLIP vocabulary (\(error)); run scripts/setup")
            }
            condition.lock()
            tokenizer = loaded
            done = true
            condition.broadcast()
            condition.unlock()
        }
    }

    func tokenCount(of text: String) -> Int {
        condition.lock()
        while !done { condition.wait() }
        let t = tokenizer
        condition.unlock()
        return t?.tokenCount(of: text) ?? 0
    }
}
