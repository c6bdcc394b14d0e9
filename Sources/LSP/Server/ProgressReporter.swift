import Foundation
import JSONRPC

/// Work-done progress for one long task (reindex, render). Uses the token the client put in
/// the request (`workDoneToken`) if any; otherwise creates one with
/// `window/workDoneProgress/create` — only when the client declared `window.workDoneProgress`,
/// and only after the client accepted it. Sends exactly one `begin`, then `report`s (unchanged
/// ones skipped), then one `end`.
///
/// Clients without `$/progress` (Neovim 0.7, Emacs/eglot before 29.2, Helix without a token) get
/// the same progress as messages instead: a `window/showMessage` when the task begins (saying how to
/// follow and cancel it), a `window/logMessage` line each time the percentage passes a tenth, and
/// one when it ends.
package actor ProgressReporter {
    private let connection: Connection?
    private let token: ProgressToken?
    private var lastReport: WorkDoneProgress?
    private var ended = false
    /// Messages instead of `$/progress`: the task's title and the last tenth logged.
    private var fallbackTitle: String?
    private var lastTenth = -1

    private init(connection: Connection?, token: ProgressToken?, fallbackTitle: String? = nil) {
        self.connection = connection
        self.token = token
        self.fallbackTitle = fallbackTitle
    }

    private static let counter = Locked(0)

    package static func start(title: String, connection: Connection, client: ClientCapabilities,
                              clientToken: ProgressToken? = nil, cancellable: Bool = false) async -> ProgressReporter {
        var token = clientToken
        if token == nil, client.workDoneProgress {
            let n = counter.withLock { $0 += 1; return $0 }
            let created = ProgressToken.string("stylus-progress-\(n)")
            do {
                _ = try await connection.sendRequest("window/workDoneProgress/create", WorkDoneProgressCreateParams(token: created))
                token = created
            } catch {
                token = nil  // the client refused: run without progress
            }
        }
        guard let token else {
            connection.sendNotification("window/showMessage", LogMessageParams(
                type: 3, message: "\(title)… (progress goes to the language server's log)"))
            return ProgressReporter(connection: connection, token: nil, fallbackTitle: title)
        }
        connection.sendNotification("$/progress", ProgressParams(
            token: token, value: WorkDoneProgress(kind: .begin, title: title, cancellable: cancellable, percentage: 0)))
        return ProgressReporter(connection: connection, token: token)
    }

    /// The token progress is reported under (nil when none is shown), to match `window/workDoneProgress/cancel`.
    package var progressToken: ProgressToken? { connection == nil ? nil : token }

    /// Whether progress is actually shown to the user.
    package var isActive: Bool { token != nil && !ended }

    package func report(_ message: String?, percentage: Int? = nil) {
        if let connection, let title = fallbackTitle, !ended {
            let p = min(100, max(0, percentage ?? 0))
            guard percentage != nil, p / 10 > lastTenth else { return }
            lastTenth = p / 10
            connection.sendNotification("window/logMessage", LogMessageParams(type: 3, message: "\(title): \(p)%" + (message.map { " \($0)" } ?? "")))
            return
        }
        guard let connection, let token, !ended else { return }
        let value = WorkDoneProgress(kind: .report, message: message, percentage: percentage.map { min(100, max(0, $0)) })
        guard value != lastReport else { return }
        lastReport = value
        connection.sendNotification("$/progress", ProgressParams(token: token, value: value))
    }

    package func end(_ message: String? = nil) {
        if let connection, let title = fallbackTitle, !ended {
            ended = true
            connection.sendNotification("window/logMessage", LogMessageParams(type: 3, message: "\(title): \(message ?? "done")"))
            return
        }
        guard let connection, let token, !ended else { return }
        ended = true
        connection.sendNotification("$/progress", ProgressParams(token: token, value: WorkDoneProgress(kind: .end, message: message)))
    }
}
