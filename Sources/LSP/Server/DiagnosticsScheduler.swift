/// Publishes diagnostics with a trailing debounce, drops results computed for a version that
/// is no longer current, skips publishing an unchanged set, and clears on close.
///
/// Results may come in two stages: `Compute` returns the quick diagnostics and, optionally, a
/// slower addition (composer hints). The quick set is published at once, so the budget after the
/// last keystroke holds on large catalogs; the full set follows when it differs.
package actor DiagnosticsScheduler {
    package struct Staged: Sendable {
        package var now: [Diagnostic]
        package var later: (@Sendable () -> [Diagnostic])?
        package init(now: [Diagnostic], later: (@Sendable () -> [Diagnostic])? = nil) { self.now = now; self.later = later }
    }
    package typealias Compute = @Sendable (DocumentSnapshot) -> Staged
    package typealias Publish = @Sendable (PublishDiagnosticsParams) -> Void
    /// Waits out the quiet period; throws when the wait is cancelled. Tests inject a manual clock.
    package typealias Sleep = @Sendable (Duration) async throws -> Void

    private let delay: Duration
    private let sleep: Sleep
    private let publish: Publish
    private var compute: Compute
    private var includeVersion = false
    private var pending: [DocumentURI: Task<Void, Never>] = [:]
    private var latest: [DocumentURI: DocumentSnapshot] = [:]
    private var published: [DocumentURI: [Diagnostic]] = [:]

    package init(delay: Duration, compute: @escaping Compute, publish: @escaping Publish,
                 sleep: @escaping Sleep = { try await Task.sleep(for: $0) }) {
        self.delay = delay
        self.sleep = sleep
        self.compute = compute
        self.publish = publish
    }

    /// A single-stage computation.
    package init(delay: Duration, compute: @escaping @Sendable (DocumentSnapshot) -> [Diagnostic], publish: @escaping Publish,
                 sleep: @escaping Sleep = { try await Task.sleep(for: $0) }) {
        self.init(delay: delay, compute: { Staged(now: compute($0)) }, publish: publish, sleep: sleep)
    }

    /// Documents whose diagnostics are still being waited for or computed.
    package var pendingCount: Int { pending.count }

    package func configure(includeVersion: Bool) { self.includeVersion = includeVersion }

    /// A document was opened or edited: (re)start its quiet period.
    package func update(_ snapshot: DocumentSnapshot) {
        latest[snapshot.uri] = snapshot
        schedule(snapshot)
    }

    /// Settings or analysis inputs changed: recompute every open document.
    package func refreshAll(compute newCompute: Compute? = nil) {
        if let newCompute { compute = newCompute }
        for snapshot in latest.values { schedule(snapshot) }
    }

    /// A document was closed: forget it and clear its diagnostics in the client.
    package func close(_ uri: DocumentURI) {
        pending.removeValue(forKey: uri)?.cancel()
        latest.removeValue(forKey: uri)
        published.removeValue(forKey: uri)
        publish(PublishDiagnosticsParams(uri: uri, version: nil, diagnostics: []))
    }

    package func stop() {
        for task in pending.values { task.cancel() }
        pending.removeAll()
    }

    private func schedule(_ snapshot: DocumentSnapshot) {
        pending[snapshot.uri]?.cancel()
        let delay = delay, compute = compute, sleep = sleep
        pending[snapshot.uri] = Task.detached { [weak self] in
            do { try await sleep(delay) } catch { return }
            let staged = compute(snapshot)
            guard !Task.isCancelled else { return }
            guard let later = staged.later else {
                await self?.deliver(snapshot, staged.now, done: true)
                return
            }
            await self?.deliver(snapshot, staged.now, done: false)
            let more = later()
            guard !Task.isCancelled, !more.isEmpty else {
                await self?.finish(snapshot)
                return
            }
            await self?.deliver(snapshot, (staged.now + more).sorted { $0.range.start < $1.range.start }, done: true)
        }
    }

    private func finish(_ snapshot: DocumentSnapshot) {
        if latest[snapshot.uri]?.revision == snapshot.revision { pending.removeValue(forKey: snapshot.uri) }
    }

    private func deliver(_ snapshot: DocumentSnapshot, _ diagnostics: [Diagnostic], done: Bool) {
        // Stale: the document changed (or closed) while we computed.
        guard latest[snapshot.uri]?.revision == snapshot.revision else { return }
        if done { pending.removeValue(forKey: snapshot.uri) }
        if published[snapshot.uri] == diagnostics { return }
        published[snapshot.uri] = diagnostics
        publish(PublishDiagnosticsParams(uri: snapshot.uri, version: includeVersion ? snapshot.version : nil,
                                         diagnostics: diagnostics))
    }
}
