import Foundation
import StylusML
import StylusRender
import XCTest

final class SHA256Tests: XCTestCase {
    func digest(_ s: String) -> String {
        var h = SHA256()
        h.update(Array(s.utf8))
        return SHA256.hex(h.finalize())
    }

    func testFIPSVectors() {
        XCTAssertEqual(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a', fed in uneven pieces.
        var h = SHA256()
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 999)
        var left = 1_000_000
        while left > 0 { let n = min(left, piece.count); h.update(Array(piece[0..<n])); left -= n }
        XCTAssertEqual(SHA256.hex(h.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testFileHashMatchesPython() throws {
        let path = TinySD.directory + "/tiny-sd15.safetensors"
        let whole = try SHA256.file(path)
        var h = SHA256()
        h.update(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(whole, h.finalize())
        // python: hashlib.sha256(open(path, 'rb').read()).hexdigest()[:10] of the committed file
        XCTAssertEqual(try SHA256.a1111ModelHash(path), "0531c43643")
    }
}
