import JSONRPC
import LSP
import StylusCore
import XCTest

/// A clock the test moves by hand: a sleeper wakes when `advance` passes its deadline, and a
/// cancelled sleeper throws at once. Timing decisions never depend on the machine's speed.
final class ManualClock: @unchecked Sendable {
    private struct Sleeper {
        var id: Int
        var wake: Duration
        var continuation: CheckedContinuation<Void, Error>
    }

    private let state = Locked<(now: Duration, next: Int, sleepers: [Sleeper], cancelled: Set<Int>)>((.zero, 0, [], []))

    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    func sleep(_ d: Duration) async throws {
        let id = state.withLock { s -> Int in s.next += 1; return s.next }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                // Parked and cancelled are decided under one lock, so a cancel is never lost.
                let parked = state.withLock { s -> Bool in
                    guard !s.cancelled.contains(id) else { return false }
                    s.sleepers.append(Sleeper(id: id, wake: s.now + d, continuation: c))
                    return true
                }
                if !parked { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Error>? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else {
                    s.cancelled.insert(id)
                    return nil
                }
                return s.sleepers.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    func advance(_ d: Duration) {
        let due = state.withLock { s -> [CheckedContinuation<Void, Error>] in
            s.now += d
            let now = s.now
            let ready = s.sleepers.filter { $0.wake <= now }
            s.sleepers.removeAll { $0.wake <= now }
            return ready.map(\.continuation)
        }
        for c in due { c.resume() }
    }
}

/// The scheduler's timing and bookkeeping, with a small word-matching check standing in for
/// the prompt analysis (the scheduler only sees snapshots in and diagnostics out). Time is a
/// `ManualClock`; the tests wait for events (a sleeper parked, a publish, no work pending), never
/// for wall-clock time to pass.
final class DiagnosticsSchedulerTests: XCTestCase {
    private let published = Locked<[PublishDiagnosticsParams]>([])
    private let computed = Locked<[Int]>([])
    private let clock = ManualClock()

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
            publish: { [published] p in published.withLock { $0.append(p) } },
            sleep: { [clock] in try await clock.sleep($0) })
    }

    private var revision = 0
    private func snapshot(_ text: String, version: Int, uri: String = "u") -> DocumentSnapshot {
        revision += 1
        return DocumentSnapshot(uri: uri, languageId: "sdprompt", version: version, text: SourceText(text), revision: revision)
    }

    /// Waits (by yielding, bounded by a generous deadline that fails the test) until `condition`.
    private func until(_ what: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !(await condition()) {
            if ContinuousClock.now > deadline { throw Timeout(description: "never happened: \(what)") }
            await Task.yield()
        }
    }

    private func waitForPublishes(_ n: Int) async throws {
        try await until("\(n) publishes (have \(published.withLock { $0.count }))") { published.withLock { $0.count } >= n }
    }

    /// Every pending task finished: sleeping, computing and delivering are over.
    private func settle(_ s: DiagnosticsScheduler) async throws {
        try await until("no pending work") { await s.pendingCount == 0 }
    }

    func testNothingIsComputedBeforeTheQuietPeriodEnds() async throws {
        let s = makeScheduler()
        await s.update(snapshot("BAD", version: 1))
        try await until("the quiet period started") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(99))
        XCTAssertEqual(clock.sleeperCount, 1, "still waiting at 99 ms")
        XCTAssertEqual(computed.current, [])
        clock.advance(.milliseconds(1))
        try await waitForPublishes(1)
        XCTAssertEqual(computed.current, [1])
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
            publish: { [published] p in published.withLock { $0.append(p) } },
            sleep: { [clock] in try await clock.sleep($0) })
        await s.update(snapshot("hint here", version: 1))
        try await until("parked") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(10))
        try await waitForPublishes(2)
        XCTAssertEqual(published.current.map { $0.diagnostics.compactMap(\.code) }, [["quick"], ["slow", "quick"]])
        // No slow addition: one publish (the quick set, already different from the last one).
        await s.update(snapshot("plain", version: 2))
        try await until("parked") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(10))
        try await waitForPublishes(3)
        try await settle(s)
        XCTAssertEqual(published.current.count, 3)
        XCTAssertEqual(published.current[2].diagnostics.compactMap(\.code), ["quick"])
    }

    func testBurstOfEditsPublishesOnceForTheLastVersion() async throws {
        let s = makeScheduler()
        await s.configure(includeVersion: true)
        for v in 1...20 {
            await s.update(snapshot(String(repeating: "BAD ", count: v), version: v))
            clock.advance(.milliseconds(5))  // edits 5 ms apart: each restarts the 100 ms quiet period
        }
        try await until("only the last edit waits") { clock.sleeperCount == 1 }
        XCTAssertEqual(computed.current, [])
        clock.advance(.milliseconds(100))
        try await waitForPublishes(1)
        try await settle(s)
        XCTAssertEqual(published.current.count, 1)
        XCTAssertEqual(published.current[0].version, 20)
        XCTAssertEqual(published.current[0].diagnostics.count, 20)
        XCTAssertEqual(computed.current, [20], "only the last version is computed")
    }

    func testUnchangedDiagnosticsAreNotRepublished() async throws {
        let s = makeScheduler(delay: .milliseconds(20))
        await s.update(snapshot("x BAD", version: 1))
        try await until("parked") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(20))
        try await waitForPublishes(1)
        await s.update(snapshot("x BAD ", version: 2))   // same finding at the same range
        try await until("parked") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(20))
        try await settle(s)
        XCTAssertEqual(computed.current, [1, 2])
        XCTAssertEqual(published.current.count, 1)
        await s.update(snapshot("BAD", version: 3))      // moved
        try await until("parked") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(20))
        try await waitForPublishes(2)
        XCTAssertNil(published.current[1].version, "no version unless the client supports it")
        XCTAssertEqual(published.current[1].diagnostics.first?.range.start.character, 0)
    }

    func testCloseCancelsPendingWorkAndClears() async throws {
        let s = makeScheduler(delay: .milliseconds(50))
        await s.update(snapshot("BAD", version: 1))
        await s.close("u")
        try await until("the cancelled wait ended") { clock.sleeperCount == 0 }
        clock.advance(.milliseconds(500))
        try await settle(s)
        XCTAssertEqual(published.current.count, 1)
        XCTAssertEqual(published.current[0].diagnostics, [])
        XCTAssertEqual(computed.current, [])
        // Reopening publishes again even though the set equals what was sent before the close.
        await s.update(snapshot("BAD", version: 1))
        try await until("parked") { clock.sleeperCount == 1 }
        clock.advance(.milliseconds(50))
        try await waitForPublishes(2)
        XCTAssertEqual(published.current[1].diagnostics.count, 1)
    }

    func testDocumentsAreIndependent() async throws {
        let s = makeScheduler(delay: .milliseconds(30))
        await s.update(snapshot("BAD", version: 1, uri: "a"))
        await s.update(snapshot("BAD BAD", version: 1, uri: "b"))
        try await until("both parked") { clock.sleeperCount == 2 }
        clock.advance(.milliseconds(30))
        try await waitForPublishes(2)
        XCTAssertEqual(Set(published.current.map(\.uri)), ["a", "b"])
    }
}
