import MCP
import StylusMCP
import XCTest

/// The output schemas declare draft-07 (clients check them against its metaschema on every call,
/// much faster than 2020-12's); the declaration is only true while they use keywords that mean the
/// same in both dialects.
final class ToolSchemasTests: XCTestCase {
    static let sharedKeywords: Set<String> = [
        "$schema", "type", "description", "properties", "required", "additionalProperties", "items",
        "enum", "minimum", "maximum", "minItems", "maxItems",
    ]

    func testOutputSchemasDeclareDraft07AndUseOnlyKeywordsBothDialectsShare() throws {
        XCTAssertEqual(ToolSchemas.all.count, 5)
        for tool in ToolSchemas.all {
            let output = try XCTUnwrap(tool.outputSchema?.objectValue, tool.name)
            XCTAssertEqual(output["$schema"]?.stringValue, "http://json-schema.org/draft-07/schema#", tool.name)
            XCTAssertEqual(output["type"]?.stringValue, "object", tool.name)
            check(.object(output), at: tool.name)
            // Input schemas keep MCP's default dialect (2020-12): no declaration.
            XCTAssertNil(tool.inputSchema.objectValue?["$schema"], tool.name)
        }
    }

    func testRenderImageTakesTheStepsEveryFrontEndTakes() throws {
        // One limit (PromptSettings.stepRange) for the frontmatter, the renderer and this schema.
        let render = try XCTUnwrap(ToolSchemas.all.first { $0.name == "render_image" })
        let steps = try XCTUnwrap(render.inputSchema.objectValue?["properties"]?.objectValue?["steps"]?.objectValue)
        XCTAssertEqual(steps["minimum"]?.intValue, 1)
        XCTAssertEqual(steps["maximum"]?.intValue, 150)
    }

    private func check(_ schema: Value, at path: String) {
        guard let object = schema.objectValue else {
            XCTAssertNotNil(schema.boolValue, "\(path): a schema is an object or a boolean")
            return
        }
        for (key, value) in object {
            XCTAssertTrue(Self.sharedKeywords.contains(key), "\(path): keyword \(key) differs between draft-07 and 2020-12 or is unknown")
            switch key {
            case "properties": for (name, sub) in value.objectValue ?? [:] { check(sub, at: "\(path).\(name)") }
            // An array `items` is a tuple in draft-07 but an error in 2020-12 (`prefixItems`).
            case "items": XCTAssertNotNil(value.objectValue, "\(path): items must be one schema"); check(value, at: "\(path)[]")
            case "additionalProperties": check(value, at: "\(path).*")
            default: break
            }
        }
        if object["$schema"] != nil { XCTAssertEqual(path.contains("."), false, "\(path): $schema only at the root") }
    }
}
