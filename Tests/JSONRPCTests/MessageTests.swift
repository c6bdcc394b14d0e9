import Foundation
import JSONRPC
import XCTest

final class MessageTests: XCTestCase {
    private func decode(_ s: String) throws(MessageDecodingFailure) -> IncomingMessage {
        try IncomingMessage.decode(Data(s.utf8))
    }

    private func failure(_ s: String) -> MessageDecodingFailure? {
        do { _ = try decode(s); return nil } catch { return error }
    }

    func testRequestIdsAreIntOrStringAndEchoedExactly() throws {
        guard case .request(let id, let method, let params) = try decode(#"{"jsonrpc":"2.0","id":7,"method":"m","params":{"x":[1,2]}}"#) else {
            return XCTFail("not a request")
        }
        XCTAssertEqual(id, .int(7))
        XCTAssertEqual(method, "m")
        XCTAssertEqual(params.json, ["x": [1, 2]])
        guard case .request(let sid, _, _) = try decode(#"{"jsonrpc":"2.0","id":"abc","method":"m"}"#) else {
            return XCTFail("not a request")
        }
        XCTAssertEqual(sid, .string("abc"))
    }

    func testNotificationAndResponses() throws {
        guard case .notification("n", let p) = try decode(#"{"jsonrpc":"2.0","method":"n"}"#) else { return XCTFail() }
        XCTAssertFalse(p.isPresent)
        guard case .response(.string("s-1"), .success(let r)) = try decode(#"{"jsonrpc":"2.0","id":"s-1","result":null}"#) else {
            return XCTFail()
        }
        XCTAssertEqual(try r.decodeIfPresent(Int.self), nil)
        guard case .response(.int(3), .failure(let e)) = try decode(#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no"}}"#) else {
            return XCTFail()
        }
        XCTAssertEqual(e.code, ErrorCode.methodNotFound)
    }

    func testInvalidJSONIsAParseErrorWithNullId() {
        for bad in ["{", "", "nul", "{\"jsonrpc\" 2}"] {
            let f = failure(bad)
            XCTAssertEqual(f?.reply?.error.code, ErrorCode.parseError, bad)
            XCTAssertNil(f?.reply?.id ?? nil)
        }
        // Invalid UTF-8 inside a string.
        do {
            _ = try IncomingMessage.decode(Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]))
            XCTFail("invalid UTF-8 accepted")
        } catch {
            XCTAssertEqual(error.reply?.error.code, ErrorCode.parseError)
        }
    }

    func testValidJSONThatIsNotAMessageIsAnInvalidRequest() {
        XCTAssertEqual(failure("[1,2]")?.reply?.error.code, ErrorCode.invalidRequest)
        XCTAssertEqual(failure("42")?.reply?.error.code, ErrorCode.invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"1.0","id":1,"method":"m"}"#)?.reply?.error.code, ErrorCode.invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"1.0","id":1,"method":"m"}"#)?.reply?.id, .int(1))
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#)?.reply?.error.code, ErrorCode.invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1,"method":7}"#)?.reply?.error.code, ErrorCode.invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0"}"#)?.reply?.error.code, ErrorCode.invalidRequest)
        // A broken response is logged, never answered.
        XCTAssertNotNil(failure(#"{"jsonrpc":"2.0","id":1}"#))
        XCTAssertNil(failure(#"{"jsonrpc":"2.0","id":1}"#)?.reply)
    }

    func testParamsDecodeErrorsNameTheField() throws {
        struct P: Decodable { struct Doc: Decodable { var uri: String }; var textDocument: Doc }
        guard case .request(_, _, let params) = try decode(#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"textDocument":{"uri":5}}}"#) else {
            return XCTFail()
        }
        XCTAssertThrowsError(try params.decode(P.self)) { error in
            let e = error as? ResponseError
            XCTAssertEqual(e?.code, ErrorCode.invalidParams)
            XCTAssertTrue(e?.message.contains("textDocument.uri") ?? false, e?.message ?? "")
        }
    }

    func testJSONValueRoundTrip() throws {
        let v: JSONValue = ["a": [1, 2.5, "s", true, nil], "b": ["c": "🐱"]]
        let data = try JSONEncoder().encode(v)
        XCTAssertEqual(try JSONDecoder().decode(JSONValue.self, from: data), v)
        XCTAssertEqual(v.at("b.c"), "🐱")
    }
}
