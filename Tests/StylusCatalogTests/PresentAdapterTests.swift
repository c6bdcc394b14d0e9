import Foundation
import StylusCatalog
import StylusCore
import XCTest

/// The adapters a prompt already loads (`<lora:alias:weight>`) are found in the catalog by alias,
/// whatever else shares its words, and their styles count against the composer's style cap.
final class PresentAdapterTests: XCTestCase {
    static func card(_ id: String, _ alias: String, _ title: String, tags: [String]) -> AdapterCard {
        AdapterCard(adapterId: id, alias: alias, title: title, baseModel: .sd15, tags: tags, triggerWords: [])
    }

    static let styles = [
        card("s1", "Ink_V3", "Sumi Brush", tags: ["style", "ink"]),
        card("s2", "wc", "Watercolor Dream", tags: ["style", "watercolor"]),
        card("s3", "px", "Pixel Art", tags: ["style", "pixel art"]),
    ]
    /// Cards whose names share the alias's words, so a lexical query for them has many answers.
    static let crowd = (0..<60).map { card("c\($0)", "ink_v\($0 + 4)", "Ink Splash v3 \($0)", tags: ["concept", "ink", "v3"]) }
    let source = LexicalCandidates(entries: (PresentAdapterTests.styles + PresentAdapterTests.crowd).map { ($0, OfflineRefiner.refine($0)) })

    func testALoadedAdapterIsFoundByItsAlias() throws {
        let found = try ComposePipeline.presentAdapters(in: "a quiet lake, <lora:ink_v3:0.8>, <lora:missing:1>", source: source)
        XCTAssertEqual(found.map(\.card.adapterId), ["s1"], "the alias, case-insensitively; an unknown alias finds nothing")
        XCTAssertEqual(try ComposePipeline.presentAdapters(in: "a quiet lake", source: source).count, 0)
    }

    func testALoadedStyleTakesAStylesPlace() throws {
        XCTAssertEqual(OfflineRefiner.refine(Self.styles[0]).category, .style)
        func added(_ prompt: String) throws -> [String] {
            try ComposePipeline.run(ComposeRequest(prompt: prompt), source: source).composition.topics.flatMap(\.adapters).map(\.adapterID)
        }
        XCTAssertEqual(Set(try added("watercolor, pixel art, a quiet lake")), ["s2", "s3"])
        let loaded = try ComposePipeline.run(ComposeRequest(prompt: "watercolor, pixel art, a quiet lake, <lora:ink_v3:0.8>"), source: source)
        XCTAssertEqual(loaded.composition.topics.flatMap(\.adapters).count, 1, "\(loaded.composition.topics.flatMap(\.adapters))")
        XCTAssertTrue(loaded.composition.topics.flatMap(\.decisions).contains { $0.reason.contains("(it loads 1 already)") })
    }
}
