import Foundation
import StylusCore

/// Keeps the server's `AdapterContext` in step with the settings: loads it in the background
/// (never on the message loop), reloads when `db` or `loraDirs` change, re-bases it cheaply when
/// only `baseModel` changes. Readers `await current()`, which waits for a load in progress, so a
/// request that arrives during start-up gets the catalog instead of an empty answer; `<lora:`
/// completion awaits only the first phase (`currentForAliases()`).
package actor AdapterContextLoader {
    package typealias Loaded = @Sendable (_ context: AdapterContext?, _ problems: [String]) async -> Void
    package typealias Load = @Sendable (Settings) throws -> AdapterContext

    private var task: Task<AdapterContext?, Never>?
    private var settings: Settings?
    private var generation = 0
    private let load: Load

    package init(load: @escaping Load) {
        self.load = load
    }

    /// New settings: reload, re-base or keep the context. `loaded` runs once the new context is
    /// ready (or failed) and again once its composer is ready, unless newer settings superseded it,
    /// with the problems to show the user.
    /// The reports of the latest load (see `settled`).
    private var reporting: Task<Void, Never>?

    package func update(_ new: Settings, force: Bool = false, loaded: @escaping Loaded) {
        let old = settings
        settings = new
        generation += 1
        let gen = generation
        if !force, let old, let previous = task, old.db == new.db, old.loraDirs == new.loraDirs {
            guard old.baseModel != new.baseModel else { return }
            let base = new.baseModel.flatMap { BaseModel($0) }
            task = Task { await previous.value?.with(defaultBaseModel: base) }
        } else {
            let load = self.load
            task = Task {
                // Opening SQLite and building indexes blocks: run it on a thread of its own, never on
                // the threads that serve Swift concurrency (on Linux those are Dispatch's global
                // queues too), where it would stall message handling on a 2-core machine.
                let result = await withCheckedContinuation { done in
                    Thread.detachNewThread { done.resume(returning: Result { try load(new) }) }
                }
                switch result {
                case .success(let context): return context
                case .failure(let error):
                    await self.report(gen, nil, ["adapter catalog unavailable: \(error)"], loaded)
                    return nil
                }
            }
        }
        let current = task!
        reporting = Task { [weak self] in
            guard let context = await current.value else { return }
            do { try await context.loaded() } catch {
                await self?.report(gen, nil, ["adapter catalog unavailable: \(error)"], loaded)
                return
            }
            await self?.report(gen, context, context.warnings, loaded)
            // Once the composer's index is built, composition-based results (hints) can appear.
            guard !context.isComposerReady else { return }
            await context.composerReady()
            await self?.report(gen, context, context.catalog.composerWarning.map { [$0] } ?? [], loaded)
        }
    }

    /// Waits until the latest load has reported everything it will (loaded, composer ready), so
    /// that no diagnostics refresh from it is still to come.
    package func settled() async { await reporting?.value }

    private func report(_ gen: Int, _ context: AdapterContext?, _ problems: [String], _ loaded: Loaded) async {
        guard gen == generation else { return }  // superseded by newer settings
        await loaded(context, problems)
    }

    /// The current context, waiting for a load in progress; nil before any settings or when the
    /// catalog cannot be opened.
    package func current() async -> AdapterContext? {
        guard let context = await task?.value, (try? await context.loaded()) != nil else { return nil }
        return context
    }

    /// The current context as soon as its catalog is open, maybe before its summaries are
    /// loaded: only for `AdapterContext.aliases(prefix:…)`, which answers in either state.
    package func currentForAliases() async -> AdapterContext? {
        await task?.value
    }
}
