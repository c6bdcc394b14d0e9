import JSONRPC
import LSP
import StylusCore
import XCTest

/// The scheduler's timing and bookkeeping, with a small word-matching check standing in for
/// the prompt analysis (the scheduler only sees snapshots in and diagnostics out).
final class DiagnosticsSchedulerTests: XCTestCase {
    private let published = Locked<[PublishDiagnosticsParams]>([])
    private let computed = Locked<[Int]>([])

    private func makeScheduler(delay: Duration = .milliseconds(100)) -> DiagnosticsScheduler {
        DiagnosticsScheduler(
            delay: delay,
            compute: { [computed] snapshot in
                computed.withLock { $0.append(snapshot.version) }
                let text = snapshot.text
                var out: [Diagnostic] = []
                var from = text.text.startIndex
                while let r = text.text.range(of: "BAD", range: from..<text.text.endIndex) {
                    let lo = text.text.utf8.distance(from: text.text.startIndex, to: r.lowerBound)
                    out.append(Diagnostic(range: text.range(lo..<lo + 3).lsp, severity: .warning, code: "test", message: "bad"))
                    from = r.upperBound
                }
                return out
            },
            publish: { [published] p in published.withLock { $0.append(p) } })
    }

    private var revision = 0
    private func snapshot(_ text: String, version: Int, uri: String = "u") -> DocumentSnapshot {
        revision += 1
        return DocumentSnapshot(uri: uri, languageId: "sdprompt", version: version, text: SourceText(text), revision: revision)
    }

    private func waitForPublishes(_ n: Int, timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while published.current.count < n {
            if ContinuousClock.now > deadline { throw Timeout(description: "only \(published.current.count) publishes") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func testStagedResultsPublishTheQuickSetFirst() async throws {
        let at: @Sendable (Int) -> LSPRange = { c in LSPRange(start: Position(line: 0, character: c), end: Position(line: 0, character: c + 1)) }
        let s = DiagnosticsScheduler(
            delay: .milliseconds(10),
            compute: { snapshot in
                let quick = [Diagnostic(range: at(5), severity: .warning, code: "quick", message: "q")]
                guard snapshot.text.text.contains("hint") else { return .init(now: quick, later: { [] }) }
                return .init(now: quick, later: { [Diagnostic(range: at(0), severity: .hint, code: "slow", message: "s")] })
            },
            publish: { [published] p in published.withLock { $0.append(p) } })
        await s.update(snapshot("hint here", version: 1))
        try await waitForPublishes(2)
        XCTAssertEqual(published.current.map { $0.diagnostics.compactMap(\.code) }, [["quick"], ["slow", "quick"]])
        // No slow addition: one publish (the quick set, already different from the last one).
        await s.update(snapshot("plain", version: 2))
        try await waitForPublishes(3)
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(published.current.count, 3)
        XCTAssertEqual(published.current[2].diagnostics.compactMap(\.code), ["quick"])
    }

    func testBurstOfEditsPublishesOnceForTheLastVersion() async throws {
        let s = makeScheduler()
        await s.configure(includeVersion: true)
        for v in 1...20 {
            await s.update(snapshot(String(repeating: "BAD ", count: v), version: v))
            try await Task.sleep(for: .milliseconds(5))
        }
        try await waitForPublishes(1)
        try await Task.sleep(for: .milliseconds(250))
        XCTAssertEqual(published.current.count, 1)
        XCTAssertEqual(published.current[0].version, 20)
        XCTAssertEqual(published.current[0].diagnostics.count, 20)
        XCTAssertEqual(computed.current, [20], "only the last version is computed")
    }

    func testUnchangedDiagnosticsAreNotRepublished() async throws {
        let s = makeScheduler(delay: .milliseconds(20))
        await s.update(snapshot("x BAD", version: 1))
        try await waitForPublishes(1)
        await s.update(snapshot("x BAD ", version: 2))   // same finding at the same range
        try await Task.sleep(for: .milliseconds(150))
        XCTAssertEqual(published.current.count, 1)
        await s.update(snapshot("BAD", version: 3))      // moved
        try await waitForPublishes(2)
        XCTAssertNil(published.current[1].version, "no version unless the client supports it")
        XCTAssertEqual(published.current[1].diagnostics.first?.range.start.character, 0)
    }

    func testCloseCancelsPendingWorkAndClears() async throws {
        let s = makeScheduler(delay: .milliseconds(50))
        await s.update(snapshot("BAD", version: 1))
        await s.close("u")
        try await Task.sleep(for: .milliseconds(150))
        XCTAssertEqual(published.current.count, 1)
        XCTAssertEqual(published.current[0].diagnostics, [])
        XCTAssertEqual(computed.current, [])
        // Reopening publishes again even though the set equals what was sent before the close.
        await s.update(snapshot("BAD", version: 1))
        try await waitForPublishes(2)
        XCTAssertEqual(published.current[1].diagnostics.count, 1)
    }

    func testDocumentsAreIndependent() async throws {
        let s = makeScheduler(delay: .milliseconds(30))
        await s.update(snapshot("BAD", version: 1, uri: "a"))
        await s.update(snapshot("BAD BAD", version: 1, uri: "b"))
        try await waitForPublishes(2)
        XCTAssertEqual(Set(published.current.map(\.uri)), ["a", "b"])
    }
}
