import Foundation
import StylusCore
import JSONRPC
import XCTest

final class FramerTests: XCTestCase {
    private func frame(_ body: String) -> [UInt8] { Array(MessageFramer.frame(Data(body.utf8))) }

    private func drain(_ f: inout MessageFramer) -> [MessageFramer.Event] {
        var out: [MessageFramer.Event] = []
        while let e = f.next() { out.append(e) }
        return out
    }

    private func messages(_ events: [MessageFramer.Event]) -> [String] {
        events.compactMap { if case .message(let d) = $0 { return String(decoding: d, as: UTF8.self) } else { return nil } }
    }

    func testSplitAtEveryPosition() {
        let bodies = [#"{"a":1}"#, #"{"b":"🐱 ✓"}"#, "{}"]
        let stream = bodies.flatMap(frame)
        for cut1 in 0...stream.count {
            for cut2 in stride(from: cut1, through: stream.count, by: 7) {
                var f = MessageFramer()
                var events: [MessageFramer.Event] = []
                for chunk in [stream[..<cut1], stream[cut1..<cut2], stream[cut2...]] {
                    f.feed(chunk)
                    events += drain(&f)
                }
                XCTAssertEqual(messages(events), bodies, "cuts \(cut1) \(cut2)")
                XCTAssertEqual(f.bufferedCount, 0)
            }
        }
    }

    func testByteAtATimeAndTheClassicSplits() {
        var f = MessageFramer()
        var events: [MessageFramer.Event] = []
        for piece in ["Content", "-Length: 2\r", "\n", "\r\n", "{", "}"] {
            f.feed(Array(piece.utf8))
            events += drain(&f)
        }
        XCTAssertEqual(messages(events), ["{}"])

        let stream = frame("[1]") + frame("[2,3]")
        var g = MessageFramer()
        var out: [MessageFramer.Event] = []
        for b in stream { g.feed([b]); out += drain(&g) }
        XCTAssertEqual(messages(out), ["[1]", "[2,3]"])
    }

    func testHeaderNameIsCaseInsensitiveAndOtherHeadersAreIgnored() {
        var f = MessageFramer()
        f.feed(Array("content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n{}".utf8))
        f.feed(Array("Content-Type: x\r\nCONTENT-LENGTH:3\r\n\r\n[1]".utf8))
        XCTAssertEqual(messages(drain(&f)), ["{}", "[1]"])
    }

    func testContentLengthCountsBytesNotCharacters() {
        var f = MessageFramer()
        let body = #"{"t":"a𐐀b🐱"}"#
        f.feed(Array("Content-Length: \(body.utf8.count)\r\n\r\n\(body){}".utf8))
        XCTAssertEqual(messages(drain(&f)), [body])
    }

    func testBadHeadersAreReportedAndTheStreamRecovers() {
        var f = MessageFramer()
        f.feed(Array("X-Foo: 1\r\n\r\n".utf8))
        f.feed(Array("Content-Length: nope\r\n\r\n".utf8))
        f.feed(Array("Content-Length: -4\r\n\r\n".utf8))
        f.feed(Array("Content-Length: 99999999999999\r\n\r\n".utf8))
        f.feed(frame("{}"))
        let events = drain(&f)
        XCTAssertEqual(events.count, 5)
        XCTAssertEqual(events.filter { if case .headerError = $0 { return true } else { return false } }.count, 4)
        XCTAssertEqual(messages(events), ["{}"])
    }

    func testJunkBeforeTheHeaderNameOnTheSameLineIsTolerated() {
        // What is left of a message whose length was wrong runs into the next header.
        var f = MessageFramer()
        f.feed(Array("garbage}Content-Length: 2\r\n\r\n{}".utf8))
        XCTAssertEqual(messages(drain(&f)), ["{}"])
    }

    func testEndlessHeaderIsCutOff() {
        var f = MessageFramer()
        f.feed([UInt8](repeating: UInt8(ascii: "a"), count: MessageFramer.maxHeaderBytes + 10))
        let events = drain(&f)
        XCTAssertEqual(events.count, 1)
        guard case .headerError = events[0] else { return XCTFail("expected a header error") }
        XCTAssertLessThan(f.bufferedCount, 8)
        f.feed(frame("{}"))
        XCTAssertEqual(messages(drain(&f)), ["{}"])
    }

    func testLargeBodyInChunks() {
        let body = "[\"" + String(repeating: "x", count: 3_000_000) + "\"]"
        let stream = frame(body)
        var f = MessageFramer()
        var events: [MessageFramer.Event] = []
        var i = 0
        while i < stream.count {
            let j = min(stream.count, i + 65_536)
            f.feed(stream[i..<j])
            events += drain(&f)
            i = j
        }
        XCTAssertEqual(messages(events).first?.utf8.count, body.utf8.count)
    }

    /// Random bytes never crash the framer and never grow its buffer without bound.
    func testFuzzRandomBytes() {
        var rng = SeededGenerator(seed: 0x5eed)
        let alphabet: [UInt8] = Array("Content-Length: 0123456789\r\n{}\"x".utf8) + [0, 0xFF, 0xC3, 0xF0]
        for round in 0..<300 {
            var f = MessageFramer()
            var noise: [UInt8] = []
            for _ in 0..<Int(rng.next() % 4000) {
                noise.append(rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))])
            }
            var pos = 0
            while pos < noise.count {
                let n = min(noise.count - pos, 1 + Int(rng.next() % 300))
                f.feed(noise[pos..<pos + n])
                _ = drain(&f)
                pos += n
                // Bounded by the header limit, or by a declared body length of at most 10 digits' worth of noise.
                XCTAssertLessThanOrEqual(f.bufferedCount, MessageFramer.maxHeaderBytes + 4000, "round \(round)")
            }
        }
    }

    /// Random valid traffic, randomly chunked, comes out exactly as it went in.
    func testFuzzRandomChunkingOfValidTraffic() {
        var rng = SeededGenerator(seed: 42)
        let pieces = ["a", "é", "🐱", "\\n", "\r\n", "{", "}", "Content-Length: 5\r\n\r\n"]
        for _ in 0..<200 {
            var bodies: [String] = []
            for _ in 0..<Int(1 + rng.next() % 8) {
                bodies.append((0..<Int(rng.next() % 30)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined())
            }
            let stream = bodies.flatMap(frame)
            var f = MessageFramer()
            var events: [MessageFramer.Event] = []
            var pos = 0
            while pos < stream.count {
                let n = min(stream.count - pos, 1 + Int(rng.next() % 40))
                f.feed(stream[pos..<pos + n])
                events += drain(&f)
                pos += n
            }
            XCTAssertEqual(messages(events), bodies)
        }
    }
}
