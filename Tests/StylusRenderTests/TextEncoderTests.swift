import StylusML
import StylusRender
import XCTest

let referenceTensors = { () -> SafetensorsFile in try! SafetensorsFile(path: TinySD.directory + "/reference.safetensors") }()

func reference(_ name: String) throws -> Tensor { try Tensor(referenceTensors, name) }

final class TextEncoderTests: XCTestCase {
    func testMatchesTransformersForBothLayouts() throws {
        for path in [CheckpointTests.ldmPath, CheckpointTests.diffusersPath] {
            let te = try ClipTextEncoder(Checkpoint(path: path))
            XCTAssertEqual(te.heads, 2)
            for (name, c) in TinySD.reference.chunks {
                let chunking = TokenChunking(chunks: zip(c.ids, c.multipliers).map { TokenChunk(ids: $0, multipliers: $1) },
                                             tokenCount: c.token_count)
                let z = try te.encode(chunking)
                let want = try reference("cond.\(name)")
                XCTAssertEqual(z.shape, want.shape, name)
                assertRelative(z.data, want.data, 1e-4, "\(path) cond.\(name)")
            }
            let simple = TinySD.reference.chunks["simple"]!.ids[0]
            assertRelative(try te.encode(simple, clipSkip: 2).data, try reference("cond.simple.clipskip2").data, 1e-4, "clip skip 2")
        }
    }

    func testBadInputs() throws {
        let te = try ClipTextEncoder(Checkpoint(path: CheckpointTests.ldmPath))
        XCTAssertThrowsError(try te.encode([Int32](repeating: 1, count: 78)))
        XCTAssertThrowsError(try te.encode([]))
        XCTAssertThrowsError(try te.encode([49408]))
        XCTAssertThrowsError(try te.encode([1, 2], clipSkip: 4))
    }
}
