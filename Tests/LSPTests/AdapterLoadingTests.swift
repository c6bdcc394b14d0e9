import Foundation
import JSONRPC
import LSP
import StylusCatalog
import StylusCore
import XCTest

/// The catalog's first phase: before the summaries are loaded, `<lora:` completion answers from the
/// catalog's alias index, with the items the loaded catalog gives. Real SQLite catalogs; the load
/// is held before its second phase (`beforeSummaries`) so the first phase is what answers.
final class AdapterLoadingTests: XCTestCase {
    private var dir = ""
    private var gates: [DispatchSemaphore] = []
    private var client: TestClient?

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "stylus-loading-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        for gate in gates { gate.signal() }  // never leave a loading thread waiting
        client?.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A gate that holds a load before its second phase until `signal()`.
    private func makeGate() -> DispatchSemaphore {
        let gate = DispatchSemaphore(value: 0)
        gates.append(gate)
        return gate
    }

    /// Imports adapters (alias, base model or nil) into a new catalog file; returns its path.
    private func catalog(_ name: String, _ adapters: [(alias: String, base: String?)]) throws -> String {
        let jsonl = dir + "/\(name).jsonl"
        let lines = try adapters.enumerated().map { i, a -> String in
            var card: [String: Any] = [
                "adapter_id": String(format: "test-%05d", (i * 7919) % 100_000),  // ids not in alias order
                "alias": a.alias, "title": "Title \(i)", "type": "LORA", "tags": ["style"],
                "trigger_words": ["trig\(i)"], "description": "An adapter number \(i).", "weight": 0.7, "nsfw": false,
            ]
            if let base = a.base { card["base_model"] = base }
            return String(decoding: try JSONSerialization.data(withJSONObject: card, options: [.sortedKeys]), as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        let path = dir + "/\(name).sqlite"
        let report = try CatalogImporter(store: CatalogStore(path: path)).importJSONL(jsonl)
        XCTAssertEqual(report.added, adapters.count)
        return path
    }

    private func load(_ path: String, gate: DispatchSemaphore) throws -> AdapterContext {
        var settings = Settings()
        settings.db = path
        let context = try AdapterContext.load(settings: settings, environment: [:], beforeSummaries: { gate.wait() })
        XCTAssertFalse(context.catalog.isLoaded, "held before the second phase")
        return context
    }

    /// Aliases that stress the two orders: upper case, equal aliases on several base models, no
    /// base model, non-ASCII letters after ASCII starts, and file order unlike alias order.
    static let mixedAliases: [(alias: String, base: String?)] = {
        var out: [(String, String?)] = []
        let bases: [String?] = ["SD 1.5", "SDXL 1.0", "Pony", nil, "SD 1.5"]
        for i in 0..<300 {
            let stem = ["fox", "Fox", "FOX_ink", "castle", "Cat", "cat_b", "owl"][i % 7]
            out.append(("gen_\(stem)_\((i * 37) % 101)", bases[i % bases.count]))
        }
        out += [("gen_fox_1", "SDXL 1.0"), ("GEN_FOX_1", "SD 1.5"), ("gen_fox_1", nil)]  // equal keys: order by row
        out += [("gen_zz_élan", "SD 1.5"), ("gen_zz_Élan2", "SD 1.5"), ("gen_zz_east", "SD 1.5"), ("日本_style", nil)]
        out += [("a", "SD 1.5"), ("A", "SD 1.5"), ("ab", "Pony"), ("zz_last", "SD 1.5")]
        return out
    }()

    func testFirstPhaseAliasesEqualTheLoadedOnes() async throws {
        let gate = makeGate()
        let context = try load(try catalog("mixed", Self.mixedAliases), gate: gate)
        let prefixes = ["", "a", "A", "g", "gen_", "GEN_F", "gen_fox", "gen_fox_1", "gen_c", "gen_cat_b_", "gen_zz", "gen_zz_e",
                        "gen_zz_é", "日", "zz", "nomatch"]
        let bases: [BaseModel?] = [nil, .sd15, .sdxl, .pony]
        var early: [String: (adapters: [AdapterSummary], truncated: Bool)?] = [:]
        for p in prefixes {
            for b in bases {
                for limit in [1, 5, 50, 1000] { early["\(p)|\(b?.name ?? "-")|\(limit)"] = context.catalog.aliasesFromStore(prefix: p, baseModel: b, limit: limit) }
            }
        }
        XCTAssertFalse(context.catalog.isLoaded, "answered before the summaries were read")
        // Answered from the catalog where the walk stays on ASCII aliases; declined otherwise.
        XCTAssertNotNil(early["gen_fox|SD 1.5|50"] ?? nil)
        XCTAssertNotNil(early["|Pony|5"] ?? nil)
        XCTAssertEqual((early["gen_zz_e|SD 1.5|5"] ?? nil)?.adapters.map(\.alias), ["gen_zz_east"])
        XCTAssertEqual((early["gen_zz|SD 1.5|1"] ?? nil)?.truncated, true, "gen_zz_east, then more (non-ASCII ones)")
        XCTAssertNil(early["gen_zz|SD 1.5|5"] ?? nil, "would list gen_zz_Élan2 and gen_zz_élan: memory orders them")
        XCTAssertNil(early["gen_zz_é|-|50"] ?? nil, "non-ASCII prefix")
        XCTAssertNil(early["日|-|50"] ?? nil)

        gate.signal()
        try await context.loaded()
        var compared = 0
        for p in prefixes {
            for b in bases {
                for limit in [1, 5, 50, 1000] {
                    let loaded = context.catalog.aliases(prefix: p, baseModel: b, limit: limit)
                    guard let first = early["\(p)|\(b?.name ?? "-")|\(limit)"] ?? nil else { continue }
                    XCTAssertEqual(first.adapters, loaded.adapters, "prefix \(p), base \(b?.name ?? "any"), limit \(limit)")
                    XCTAssertEqual(first.truncated, loaded.truncated, "prefix \(p), base \(b?.name ?? "any"), limit \(limit)")
                    compared += 1
                }
            }
        }
        XCTAssertGreaterThan(compared, 150)
        // Aliases equal but for case come in catalog row order, all of them for any base.
        let equal = context.catalog.aliases(prefix: "gen_fox_1", baseModel: nil, limit: 50).adapters.filter { $0.alias.lowercased() == "gen_fox_1" }
        XCTAssertEqual(equal.map(\.rowID), equal.map(\.rowID).sorted())
        XCTAssertEqual(equal.count, Self.mixedAliases.filter { $0.alias.lowercased() == "gen_fox_1" }.count)
        XCTAssertGreaterThanOrEqual(equal.count, 3)
    }

    func testFirstPhaseAnswersThroughAliasesWhileLoading() throws {
        let gate = makeGate()
        let context = try load(try catalog("mixed", Self.mixedAliases), gate: gate)
        let (adapters, truncated) = context.catalog.aliases(prefix: "GEN_FOX_", baseModel: .pony, limit: 3)
        XCTAssertFalse(context.catalog.isLoaded)
        XCTAssertEqual(adapters.count, 3)
        XCTAssertTrue(truncated)
        XCTAssertTrue(adapters.allSatisfy { $0.alias.lowercased().hasPrefix("gen_fox_") && ($0.baseModel == nil || $0.baseModel == .pony) })
        let keys = adapters.map { $0.alias.lowercased() }
        XCTAssertEqual(keys, keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    /// İ and the Kelvin sign lowercase to ASCII letters, which the catalog's ASCII case-insensitive
    /// order cannot place: with such an alias the first phase declines and memory answers.
    func testFirstPhaseDeclinesForAliasesLoweringToASCII() async throws {
        let gate = makeGate()
        let context = try load(try catalog("turkish", [("İstanbul_style", "SD 1.5"), ("ink_wash", "SD 1.5"), ("zebra", nil)]), gate: gate)
        XCTAssertNil(context.catalog.aliasesFromStore(prefix: "i", baseModel: .sd15, limit: 50))
        XCTAssertNil(context.catalog.aliasesFromStore(prefix: "z", baseModel: .sd15, limit: 50))
        gate.signal()
        try await context.loaded()
        XCTAssertEqual(context.catalog.aliases(prefix: "i", baseModel: .sd15, limit: 50).adapters.map(\.alias), ["ink_wash", "İstanbul_style"])
    }

    // MARK: Through the server

    private static func complete(_ client: TestClient, _ uri: String, _ p: Position) async throws -> CompletionList {
        try await client.request("textDocument/completion", JSONValue.object([
            "textDocument": ["uri": .string(uri)], "position": ["line": .int(p.line), "character": .int(p.character)],
        ]), as: CompletionList.self)
    }

    /// `<lora:` completion answers while the catalog's summaries are still held back, with the
    /// items it gives once they are loaded; other completions wait for them.
    func testAliasCompletionBeforeTheCatalogIsLoaded() async throws {
        let gate = makeGate()
        var options = LanguageServer.Options()
        options.diagnosticsDelay = .milliseconds(10)
        options.environment = ["STYLUS_HOME": dir]  // the starter catalog, seeded on first use
        options.beforeCatalogSummaries = { gate.wait() }
        let client = TestClient(options: options)
        self.client = client
        try await client.initialize(capabilities: ["textDocument": ["completion": ["completionItem": [
            "snippetSupport": true, "documentationFormat": ["markdown"]]]]],
                                    initializationOptions: ["stylus": ["baseModel": "SD 1.5"]])
        let uri = "file:///early.sdprompt"
        let p = client.openDocument("a 1️⃣lightho2️⃣ at dusk, <lora:3️⃣gou4️⃣", uri: uri)

        let early = try await Self.complete(client, uri, p["4️⃣"]!)
        XCTAssertEqual(early.items.map(\.label), ["gouachebook_v2"], "the SD 1.5 variant only")
        XCTAssertEqual(early.items.first?.detail, "not installed · Gouache Storybook · style · 0.56")

        // A word completion needs the summaries: it is answered once the load goes on.
        let answered = Locked(false)
        let wordPosition = p["2️⃣"]!
        let words = Task { [client, answered] () async throws -> CompletionList in
            let list = try await AdapterLoadingTests.complete(client, uri, wordPosition)
            answered.withLock { $0 = true }
            return list
        }
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertFalse(answered.withLock { $0 }, "waits for the summaries")
        gate.signal()
        let wordList = try await words.value
        XCTAssertTrue(wordList.items.contains { $0.label == "lighthse_v3" }, "\(wordList.items.map(\.label))")

        let loaded = try await Self.complete(client, uri, p["4️⃣"]!)
        XCTAssertEqual(try JSONValue(encoding: early), try JSONValue(encoding: loaded), "the same list before and after loading")
        let everything = try await Self.complete(client, uri, p["3️⃣"]!)
        XCTAssertEqual(everything.items.count, 50)
    }
}
