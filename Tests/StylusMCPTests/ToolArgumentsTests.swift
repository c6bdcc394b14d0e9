import Foundation
import MCP
import StylusMCP
import XCTest

/// Argument checks of the MCP tools (their messages are what an agent reads) and the conversion of
/// the shared JSON into MCP values.
final class ToolArgumentsTests: XCTestCase {
    func testUnknownArgumentsAreNamedWithTheKnownOnes() {
        XCTAssertThrowsError(try ToolArguments(tool: "search_adapters", ["query": "cat", "top": 3, "kk": 1], allowed: ["query", "k"])) {
            XCTAssertEqual("\($0)", "search_adapters: unknown arguments 'kk', 'top'; the arguments are k, query")
        }
        XCTAssertNoThrow(try ToolArguments(tool: "t", nil, allowed: ["query"]))
    }

    func testTypesRangesAndMissingValues() throws {
        let a = try ToolArguments(tool: "t", ["s": "x", "blank": "  \n", "n": 5, "whole": 7.0, "frac": 2.5, "b": true, "null": .null,
                                              "big": 1e300], allowed: ["s", "blank", "n", "whole", "frac", "b", "null", "big"])
        XCTAssertEqual(try a.string("s"), "x")
        XCTAssertNil(try a.string("null"))
        XCTAssertNil(try a.string("absent"))
        XCTAssertThrowsError(try a.string("n")) { XCTAssertEqual("\($0)", "t: 'n' must be a string") }
        XCTAssertThrowsError(try a.text("blank", what: "a prompt")) { XCTAssertEqual("\($0)", "t: 'blank' is empty; pass a prompt") }
        XCTAssertThrowsError(try a.text("absent", what: "a prompt")) { XCTAssertEqual("\($0)", "t: 'absent' is missing; pass a prompt") }
        XCTAssertEqual(try a.int("n", in: 1...10), 5)
        XCTAssertEqual(try a.int("whole", in: 1...10), 7)
        XCTAssertThrowsError(try a.int("frac", in: 1...10)) { XCTAssertEqual("\($0)", "t: 'frac' must be an integer between 1 and 10") }
        XCTAssertThrowsError(try a.int("n", in: 6...10)) { XCTAssertEqual("\($0)", "t: 'n' must be between 6 and 10, got 5") }
        XCTAssertThrowsError(try a.int("big", in: 1...10))
        XCTAssertEqual(try a.double("frac", in: 0...3), 2.5)
        XCTAssertEqual(try a.double("n", in: 0...30), 5)
        XCTAssertThrowsError(try a.double("big", in: 0...30))
        XCTAssertEqual(try a.bool("b"), true)
        XCTAssertThrowsError(try a.bool("s")) { XCTAssertEqual("\($0)", "t: 's' must be true or false") }
        XCTAssertEqual(try a.choice("s", ["x", "y"]), "x")
        XCTAssertThrowsError(try a.choice("s", ["y", "z"])) { XCTAssertEqual("\($0)", "t: 's' must be one of y, z, got 'x'") }
    }

    func testJSONBecomesTheSameValuesAsDecoding() throws {
        let text = #"{"a":[1,2.5,true,false,null,"data:text/plain,x","s"],"b":{"c":0,"d":1,"e":-3.25e-5},"f":"ü\n"}"#
        let converted = try jsonValue(text)
        XCTAssertEqual(converted, .object([
            "a": [1, 2.5, true, false, .null, "data:text/plain,x", "s"],
            "b": ["c": 0, "d": 1, "e": -3.25e-5], "f": "ü\n",
        ]))
        // Swift-built objects (the compose JSON) convert the same way, without the NSNumber detour.
        let built: [String: Any] = ["w": 0.64, "n": 3, "t": true, "list": ["x", 1] as [Any], "none": NSNull()]
        XCTAssertEqual(try jsonValue(object: built), .object(["w": 0.64, "n": 3, "t": true, "list": ["x", 1], "none": .null]))
        XCTAssertEqual(try jsonValue(object: ["inf": Double.infinity]), .object(["inf": .null]))
        XCTAssertThrowsError(try jsonValue(object: Date()))
    }
}
