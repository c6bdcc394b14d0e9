import Foundation
import JSONRPC

/// Work-done progress for one long task (reindex, render). Uses the token the client put in
/// the request (`workDoneToken`) if any; otherwise creates one with
/// `window/workDoneProgress/create` — only when the client declared `window.workDoneProgress`,
/// and only after the client accepted it. Without either, every call is a no-op.
/// Sends exactly one `begin`, then `report`s (unchanged ones skipped), then one `end`.
package actor ProgressReporter {
    private let connection: Connection?
    private let token: ProgressToken?
    private var lastReport: WorkDoneProgress?
    private var ended = false

    private init(connection: Connection?, token: ProgressToken?) {
        self.connection = connection
        self.token = token
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
        guard let token else { return ProgressReporter(connection: nil, token: nil) }
        connection.sendNotification("$/progress", ProgressParams(
            token: token, value: WorkDoneProgress(kind: .begin, title: title, cancellable: cancellable, percentage: 0)))
        return ProgressReporter(connection: connection, token: token)
    }

    /// The token progress is reported under (nil when none is shown), to match `window/workDoneProgress/cancel`.
    package var progressToken: ProgressToken? { connection == nil ? nil : token }

    /// Whether progress is actually shown to the user.
    package var isActive: Bool { token != nil && !ended }

    package func report(_ message: String?, percentage: Int? = nil) {
        guard let connection, let token, !ended else { return }
        let value = WorkDoneProgress(kind: .report, message: message, percentage: percentage.map { min(100, max(0, $0)) })
        guard value != lastReport else { return }
        lastReport = value
        connection.sendNotification("$/progress", ProgressParams(token: token, value: value))
    }

    package func end(_ message: String? = nil) {
        guard let connection, let token, !ended else { return }
        ended = true
        connection.sendNotification("$/progress", ProgressParams(token: token, value: WorkDoneProgress(kind: .end, message: message)))
    }
}
