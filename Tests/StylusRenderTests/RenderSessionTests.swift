import Foundation
import StylusCatalog
import StylusCore
import StylusML
import StylusRender
import TestSupport
import XCTest

/// The render session on the tiny fixture: real checkpoint, real LoRA files, real catalog, real PNGs.
final class RenderSessionTests: XCTestCase {
    static let checkpoint = TinySD.directory + "/tiny-sd15.safetensors"
    static let loraDir = LoRAMergeTests.directory
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "stylus-render-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func session(cache: Int = 1 << 30) throws -> RenderSession {
        RenderSession(configuration: .init(vocabularyPath: try RequiredFiles.clipVocabulary(), cacheLimitBytes: cache))
    }

    /// A prompt file in the temp folder with the tiny checkpoint and the LoRA fixtures folder.
    func promptFile(_ body: String, steps: Int = 3, name: String = "knight") throws -> RenderJob {
        let text = """
            ---
            checkpoint: \(Self.checkpoint)
            steps: \(steps)
            size: 64x64
            seed: 7
            sampler: Euler
            base_model: SD 1.5
            negative: blurry
            lora_dirs: [\(Self.loraDir)]
            ---
            \(body)
            """
        let path = dir + "/\(name).sdprompt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return RenderJob(promptPath: path, text: text)
    }

    func parameters(_ path: String) throws -> String {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return try XCTUnwrap(PNGText.textChunks(bytes)["parameters"], "no parameters chunk in \(path)")
    }

    func pixels(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testRenderWritesNumberedPNGBesideThePromptWithParameters() throws {
        let job = try promptFile("a knight in a castle <lora:kohya:0.8>")
        var stages: [RenderStage] = []
        var steps: [Int] = []
        let outcome = try session().render(job) { e in
            if stages.last != e.stage { stages.append(e.stage) }
            if e.stage == .sample, e.step > 0 { steps.append(e.step) }
        }
        XCTAssertEqual(stages, [.loadCheckpoint, .mergeLoRAs, .encode, .sample, .decode, .write])
        XCTAssertEqual(steps, [1, 2, 3])
        let image = try XCTUnwrap(outcome.images.first)
        XCTAssertEqual(image.path, dir + "/knight-1.png")
        let hash = try LoRAFile(path: Self.loraDir + "/kohya.safetensors").addnetShortHash()
        let model = String(try SHA256.hexOfFile(Self.checkpoint).prefix(10))
        XCTAssertEqual(try parameters(image.path), """
            a knight in a castle <lora:kohya:0.8>
            Negative prompt: blurry
            Steps: 3, Sampler: Euler, CFG scale: 7, Seed: 7, Size: 64x64, Model hash: \(model), Model: tiny-sd15, \
            Lora hashes: "kohya: \(hash)", Precision: \(BFloat16Compute.path == nil ? "fp32" : "bf16"), Version: stylus
            """)
        XCTAssertEqual(image.adapters.map(\.name), ["kohya"])
        XCTAssertEqual(image.adapters.first?.hash, hash)
    }

    func testNeverOverwritesAndNumbersAfterTheHighest() throws {
        let job = try promptFile("a knight")
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir + "/knight-1.png"))
        try Data("mine too".utf8).write(to: URL(fileURLWithPath: dir + "/knight-4.png"))
        let s = try session()
        let first = try s.render(job).images[0].path
        let second = try s.render(job).images[0].path
        XCTAssertEqual([first, second], [dir + "/knight-5.png", dir + "/knight-6.png"])
        XCTAssertEqual(try String(contentsOfFile: dir + "/knight-1.png", encoding: .utf8), "mine")
        XCTAssertEqual(try String(contentsOfFile: dir + "/knight-4.png", encoding: .utf8), "mine too")
        // The same prompt and seed give the same image.
        XCTAssertEqual(try pixels(first), try pixels(second))
        // An explicit output that exists gets a number after its own stem.
        var explicit = job
        explicit.output = dir + "/knight-1.png"
        XCTAssertEqual(try s.render(explicit).images[0].path, dir + "/knight-1-1.png")
    }

    /// A second render with other adapters reuses the loaded checkpoint (merge only), and its image
    /// is exactly what a cold render of the same prompt gives (the merge starts from the originals).
    func testWarmSecondRenderSkipsLoadingAndMatchesACold() throws {
        let warm = try session()
        let a = try warm.render(try promptFile("a knight <lora:kohya:0.8>", name: "a")).images[0]
        let b = try warm.render(try promptFile("a knight <lora:locon_ldm:0.7> <lora:peft:0.5>", name: "b")).images[0]
        let c = try warm.render(try promptFile("a knight", name: "c")).images[0]
        XCTAssertEqual(warm.checkpointLoads, 1)
        XCTAssertEqual([a.checkpointWasWarm, b.checkpointWasWarm, c.checkpointWasWarm], [false, true, true])
        XCTAssertNil(b.timings["load"])
        XCTAssertNotNil(b.timings["merge"])
        XCTAssertEqual(warm.warmCheckpoints, [Self.checkpoint])

        let cold = try session()
        let b2 = try cold.render(try promptFile("a knight <lora:locon_ldm:0.7> <lora:peft:0.5>", name: "b2")).images[0]
        let c2 = try cold.render(try promptFile("a knight", name: "c2")).images[0]
        XCTAssertEqual(try pixels(b.path), try pixels(b2.path))
        XCTAssertEqual(try pixels(c.path), try pixels(c2.path))
        XCTAssertNotEqual(try pixels(a.path), try pixels(c.path), "the LoRA changed nothing")
    }

    /// The model hash is read from the cache file while the checkpoint is unchanged.
    func testModelHashCache() throws {
        var config = RenderSession.Configuration(vocabularyPath: try RequiredFiles.clipVocabulary(), cacheLimitBytes: 0)
        config.hashCachePath = dir + "/cache/hashes.json"
        let a = try FileManager.default.attributesOfItem(atPath: Self.checkpoint)
        let size = (a[.size] as? NSNumber)?.intValue ?? 0, mtime = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let id = "\(Self.checkpoint)|\(size)|\(mtime)"
        try FileManager.default.createDirectory(atPath: dir + "/cache", withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: [id: "cafecafe00"]).write(to: URL(fileURLWithPath: config.hashCachePath!))
        let image = try RenderSession(configuration: config).render(try promptFile("a knight")).images[0]
        XCTAssertTrue(image.parameters.contains("Model hash: cafecafe00,"), image.parameters)
    }

    func testCacheLimitZeroKeepsNothingWarm() throws {
        let s = try session(cache: 0)
        _ = try s.render(try promptFile("a knight"))
        XCTAssertEqual(s.warmCheckpoints, [])
        let again = try s.render(try promptFile("a knight")).images[0]
        XCTAssertFalse(again.checkpointWasWarm)
        XCTAssertEqual(s.checkpointLoads, 2)
    }

    /// Cancelling during step 2 of 20 stops there: no step 3, no image.
    func testCancellationStopsWithinOneStep() throws {
        let s = try session()
        let cancel = RenderCancellation()
        var last = 0
        XCTAssertThrowsError(try s.render(try promptFile("a knight", steps: 20), cancellation: cancel) { e in
            guard e.stage == .sample else { return }
            last = e.step
            if e.step == 2 { cancel.cancel() }
        }) { XCTAssertTrue($0 is RenderCancelled, "\($0)") }
        XCTAssertEqual(last, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }, [])
        // The session is usable afterwards and the checkpoint stayed warm.
        XCTAssertTrue(try s.render(try promptFile("a knight")).images[0].checkpointWasWarm)
    }

    func testASettingThatCannotBeReadStopsTheRender() throws {
        // stylus check calls these errors; the render must not fall back to 20 steps or CFG 7.
        for (setting, message) in [("steps: -5", "'steps' must be between 1 and 150 (got -5)."),
                                   ("steps: 500", "'steps' must be between 1 and 150 (got 500)."),
                                   ("cfg: nan", "'cfg' must be between 0 and 100 (got nan)."),
                                   ("size: 10x10", "'size' must be between 64 and 2048 pixels per side"),
                                   ("size: 4096x4096", "'size' must be between 64 and 2048 pixels per side"),
                                   ("size: 510x512", "'size' 510x512 is not a multiple of 8 (one latent cell); use e.g. 504x512.")] {
            var job = try promptFile("a knight")
            let key = setting.prefix { $0 != ":" }
            let lines = job.text.split(separator: "\n", omittingEmptySubsequences: false)
            job.text = (lines.contains { $0.hasPrefix(key + ":") } ? lines.map { $0.hasPrefix(key + ":") ? Substring(setting) : $0 }
                        : [lines[0], Substring(setting)] + lines.dropFirst()).joined(separator: "\n")
            XCTAssertThrowsError(try session().render(job)) { e in
                XCTAssertTrue("\(e)".contains(message) && "\(e)".contains("knight.sdprompt:"), "\(setting): \(e)")
            }
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasSuffix(".png") })
        }
        // A warning (an unknown key) does not stop it.
        var job = try promptFile("a knight")
        job.text = job.text.replacingOccurrences(of: "steps: 3", with: "steps: 3\nsteeps: 4")
        XCTAssertEqual(try session().render(job).images.count, 1)
    }

    func testUnknownLoRAWrittenByTheUserIsAnError() throws {
        XCTAssertThrowsError(try session().render(try promptFile("a knight <lora:nonexistent:1>"))) { e in
            XCTAssertTrue("\(e)".contains("no LoRA file for <lora:nonexistent:…>") && "\(e)".contains("put it in a LoRA folder"), "\(e)")
        }
    }

    // MARK: Composing

    /// A real catalog (SQLite) whose adapters point at the fixture LoRA files (one card has no
    /// file): composing for a local render takes the installed adapters only.
    func composer() throws -> RenderComposer {
        RenderComposer(catalog: try CatalogIndex(store: try catalogStore()))
    }

    /// The same catalog's composer without the installed-only filter (every known adapter).
    func knownComposer() throws -> RenderComposer {
        let entries = try catalogStore().allEntries()
        let files = CatalogAdapterFiles(entries: entries)
        return RenderComposer(source: LexicalCandidates(entries: entries.map { ($0.card, $0.refinement) }),
                              adapterFile: { files.path(for: $0) })
    }

    func catalogStore() throws -> CatalogStore {
        if FileManager.default.fileExists(atPath: dir + "/catalog.sqlite") { return try CatalogStore(path: dir + "/catalog.sqlite") }
        let lines = [
            #"{"adapter_id": "r-1", "alias": "kohya", "title": "Watercolor Style", "base_model": "SD 1.5", "type": "LORA", "tags": ["style", "watercolor", "painting"], "description": "A soft watercolor painting style with paper texture.", "weight": 0.8, "file": "\#(Self.loraDir)/kohya.safetensors"}"#,
            #"{"adapter_id": "r-2", "alias": "locon_ldm", "title": "Medieval Castle", "base_model": "SD 1.5", "type": "LoCon", "tags": ["building", "castle", "architecture"], "description": "Stone castles with towers and walls.", "weight": 0.7, "file": "\#(Self.loraDir)/locon_ldm.safetensors"}"#,
            #"{"adapter_id": "r-3", "alias": "moonlight_v2", "title": "Moonlight", "base_model": "SD 1.5", "type": "LORA", "tags": ["lighting", "moonlight", "night"], "description": "Cold moonlight at night.", "weight": 0.6}"#,
        ]
        let jsonl = dir + "/catalog.jsonl"
        try lines.joined(separator: "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        let store = try CatalogStore(path: dir + "/catalog.sqlite")
        _ = try CatalogImporter(store: store).importJSONL(jsonl)
        return store
    }

    func testComposedTagsAreRenderedAndRecorded() throws {
        var job = try promptFile("a medieval castle under moonlight, watercolor", name: "composed")
        job.compose = true
        let outcome = try session().render(job, composer: try composer())
        let image = try XCTUnwrap(outcome.images.first)
        XCTAssertEqual(Set(image.adapters.map(\.name)), ["locon_ldm", "kohya"])
        let params = try parameters(image.path)
        XCTAssertTrue(params.hasPrefix("a medieval castle under moonlight, watercolor, <lora:"), params)
        XCTAssertTrue(params.contains("<lora:locon_ldm:0.56>") && params.contains("<lora:kohya:0.64>"), params)
        let hashes = try ["kohya", "locon_ldm"].map { ($0, try LoRAFile(path: "\(Self.loraDir)/\($0).safetensors").addnetShortHash()) }
        for (name, hash) in hashes { XCTAssertTrue(params.contains("\(name): \(hash)"), params) }
        // The adapter without a local file is not composed for a local render: nothing is dropped.
        XCTAssertFalse(params.contains("moonlight_v2"), params)
        XCTAssertEqual(outcome.warnings, [])
        XCTAssertFalse(outcome.composed?.promptWithAdapters.contains("moonlight_v2") ?? true)
    }

    /// A composition that names an adapter without a file (a composer without the installed-only
    /// filter) is refused, naming the missing file and the fix: never rendered without it.
    func testComposedAdapterWithoutAFileIsRefused() throws {
        var job = try promptFile("a medieval castle under moonlight, watercolor", name: "refused")
        job.compose = true
        let composer = try knownComposer()
        XCTAssertTrue(try composer.compose(job.prompt).promptWithAdapters.contains("<lora:moonlight_v2:"), "the test proves nothing")
        XCTAssertThrowsError(try session().render(job, composer: composer)) { e in
            XCTAssertTrue("\(e)".contains("'moonlight_v2' has no local file (moonlight_v2.safetensors"), "\(e)")
            XCTAssertTrue("\(e)".contains("put the file in a LoRA folder"), "\(e)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }, [])
    }

    /// `lora_dirs: [/]` once walked the whole disk on every render, even without a `<lora:>` tag:
    /// folders are walked only to resolve a name, and `/` is refused with a reason.
    func testRootLoRAFolderIsNotWalkedWithoutTagsAndRefusedWithOne() throws {
        func job(_ body: String, name: String) throws -> RenderJob {
            let path = dir + "/\(name).sdprompt"
            let text = "---\ncheckpoint: \(Self.checkpoint)\nsteps: 2\nsize: 64x64\nseed: 7\nlora_dirs: [/]\n---\n\(body)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return RenderJob(promptPath: path, text: text)
        }
        let session = try session()
        let plain = try job("a knight", name: "plain"), tagged = try job("a knight <lora:anything:0.5>", name: "tagged")
        let outcome = try Deadline.run(within: 60, "a render with lora_dirs: [/] and no tag") { try session.render(plain) }
        XCTAssertEqual(outcome.images.count, 1)
        XCTAssertEqual(outcome.warnings, [])
        let failed = try Deadline.run(within: 60, "a render with lora_dirs: [/] and a tag") { Result { try session.render(tagged) } }
        XCTAssertThrowsError(try failed.get()) { e in
            XCTAssertTrue("\(e)".contains("no LoRA file for <lora:anything:…>") && "\(e)".contains("/: not searched"), "\(e)")
        }
    }

    /// A card's `file` may name anything: a file that is not a regular .safetensors file (a system
    /// file, a FIFO named .safetensors) is never opened; the adapter is left out with a warning.
    func testCardFilesThatAreNotRegularSafetensorsAreNeverOpened() throws {
        let fifo = dir + "/trap.safetensors"
        try FIFO.make(fifo)
        defer { FIFO.releaseReaders(fifo) }
        let lines = [
            #"{"adapter_id": "p-1", "alias": "passwd_style", "title": "Castle Style", "base_model": "SD 1.5", "type": "LORA", "tags": ["castle"], "description": "Castles.", "weight": 0.8, "file": "/etc/passwd"}"#,
            #"{"adapter_id": "p-2", "alias": "fifo_style", "title": "Watercolor Style", "base_model": "SD 1.5", "type": "LORA", "tags": ["watercolor"], "description": "Watercolor.", "weight": 0.8, "file": "\#(fifo)"}"#,
        ]
        let jsonl = dir + "/cards.jsonl"
        try lines.joined(separator: "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        let store = try CatalogStore(path: dir + "/cards.sqlite")
        _ = try CatalogImporter(store: store).importJSONL(jsonl)
        let entries = try store.allEntries()
        let files = CatalogAdapterFiles(entries: entries)
        let composer = RenderComposer(source: LexicalCandidates(entries: entries.map { ($0.card, $0.refinement) }),
                                      adapterFile: { files.path(for: $0) })
        var composing = try promptFile("a castle, watercolor", name: "cards")
        composing.compose = true
        let job = composing, session = try session()
        let result = try Deadline.run(within: 120, "a render whose cards name /etc/passwd and a FIFO", unblock: { FIFO.releaseReaders(fifo) }) {
            Result { try session.render(job, composer: composer) }
        }
        let composed = try composer.compose(job.prompt).composition.topics.flatMap { $0.adapters.map(\.alias) }
        XCTAssertFalse(composed.isEmpty, "nothing composed: the test proves nothing")
        XCTAssertThrowsError(try result.get()) { e in
            for alias in composed { XCTAssertTrue("\(e)".contains("'\(alias)'") && "\(e)".contains("no local file"), "\(e)") }
        }
        // Neither counts as installed: the installed-only composer composes nothing from them.
        let index = try CatalogIndex(store: store)
        XCTAssertEqual(index.installed.count, 0)
        let installed = try Deadline.run(within: 120, "an installed-only render over the same cards", unblock: { FIFO.releaseReaders(fifo) }) {
            try session.render(job, composer: RenderComposer(catalog: index))
        }
        XCTAssertEqual(installed.images.first?.adapters.map(\.name), [])
        XCTAssertEqual(installed.warnings, [])
        // The index's loading threads are done before tearDown removes the folder under them.
        try index.waitUntilLoaded()
        _ = try index.candidatePool()
    }

    /// Variations: one image per sampled mask, each recording its own adapters, seeds counting up.
    func testVariationsRecordTheirOwnAdapters() throws {
        var job = try promptFile("a castle under moonlight, watercolor", name: "vary")
        job.compose = true
        job.variations = 4
        job.maskSeed = 11
        let outcome = try session().render(job, composer: try composer())
        XCTAssertEqual(outcome.images.map(\.path), (1...4).map { dir + "/vary-\($0).png" })
        XCTAssertEqual(outcome.images.map(\.seed), [7, 8, 9, 10])
        let composition = try XCTUnwrap(outcome.composed?.composition)
        let masks = Masks.sample(.oneHotLoras, adapterCounts: composition.topics.map(\.adapters.count), samples: 4, seed: 11)
        for (image, mask) in zip(outcome.images, masks) {
            let params = try parameters(image.path)
            let on = Set(zip(composition.topics, mask).flatMap { t, m in zip(t.adapters, m).filter(\.1).map(\.0.alias) })
                .subtracting(["moonlight_v2"])
            XCTAssertEqual(Set(image.adapters.map(\.name)), on, params)
            for alias in ["kohya", "locon_ldm"] {
                XCTAssertEqual(params.contains("<lora:\(alias):"), on.contains(alias), params)
                XCTAssertEqual(params.contains("\(alias): "), on.contains(alias), params)
            }
        }
        XCTAssertGreaterThan(Set(outcome.images.map { Set($0.adapters.map(\.name)) }).count, 1, "masks all alike")
    }
}

/// A cancel is observed at once, whatever the render thread is doing (the language server
/// answers the cancelled request from it).
final class RenderCancellationTests: XCTestCase {
    func testObserversRunOnceOnCancelOrAtOnceWhenAlreadyCancelled() {
        let c = RenderCancellation()
        let calls = NSLock()
        nonisolated(unsafe) var count = 0
        c.onCancel { calls.lock(); count += 1; calls.unlock() }
        XCTAssertEqual(count, 0)
        c.cancel()
        c.cancel()
        XCTAssertEqual(count, 1, "the observer runs once")
        c.onCancel { calls.lock(); count += 10; calls.unlock() }
        XCTAssertEqual(count, 11, "registered after the cancel: runs at once")
        XCTAssertThrowsError(try c.check())
    }
}
