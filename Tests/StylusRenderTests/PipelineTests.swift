import StylusCore
import StylusML
import StylusRender
import TestSupport
import XCTest

final class PipelineTests: XCTestCase {
    /// The request the fixture's `pipeline.image` references were made with (diffusers' pipeline).
    static func referenceRequest() -> RenderRequest {
        var request = RenderRequest(prompt: [.text("a photograph of an astronaut riding a horse", weight: 1)])
        request.negative = [.text("blurry, lowres", weight: 1)]
        request.steps = 4
        request.cfgScale = 7.5
        request.seed = 1236
        request.width = 128
        request.height = 64
        request.sampler = .euler
        return request
    }

    /// The whole txt2img path (tokenizer, text encoder, CFG with the negative prompt, Euler,
    /// torch-compatible seed, VAE) against diffusers' StableDiffusionPipeline on the fixture.
    func testRenderMatchesDiffusersPipeline() throws {
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let want = try RGBImage(planar: try reference("pipeline.image").data, width: 128, height: 64)
        for path in [CheckpointTests.ldmPath, CheckpointTests.diffusersPath] {
            let pipeline = try Pipeline(checkpoint: Checkpoint(path: path), tokenizer: tokenizer)
            var steps: [Int] = []
            let image = try pipeline.render(Self.referenceRequest()) { step, total in
                XCTAssertEqual(total, 4)
                steps.append(step)
            }
            XCTAssertEqual(steps, [1, 2, 3, 4])
            XCTAssertEqual(image.width, 128)
            XCTAssertEqual(image.height, 64)
            var se = 0.0
            for (a, b) in zip(image.pixels, want.pixels) { se += Double((Int(a) - Int(b)) * (Int(a) - Int(b))) }
            let mse = se / Double(want.pixels.count)
            let psnr = mse == 0 ? Double.infinity : 10 * log10(255 * 255 / mse)
            XCTAssertGreaterThanOrEqual(psnr, 40, "\(path): PSNR \(psnr) dB")
            FileHandle.standardError.write(Data("pipeline parity \(path.split(separator: "/").last!): PSNR \(psnr) dB\n".utf8))
        }
    }

    func testBadRequestsAreRejected() throws {
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let pipeline = try Pipeline(checkpoint: Checkpoint(path: CheckpointTests.ldmPath), tokenizer: tokenizer)
        for edit in [{ (r: inout RenderRequest) in r.width = 10000; r.height = 10000 }, { $0.width = 100 },
                     { $0.steps = 0 }, { $0.cfgScale = .nan }, { $0.sampler = .lcm; $0.steps = 60 }] {
            var r = RenderRequest(prompt: [.text("cat", weight: 1)])
            r.width = 64
            r.height = 64
            edit(&r)
            XCTAssertThrowsError(try pipeline.render(r)) { e in XCTAssertTrue(e is RenderError, "\(e)") }
        }
    }

    func testTokenizerCountsForTheLinter() throws {
        let tokenizer = try ClipTokenizer(vocabularyPath: try RequiredFiles.clipVocabulary())
        let counter: any PromptTokenCounter = tokenizer
        XCTAssertEqual(counter.tokenCount(of: "masterpiece, best quality, 1girl"), 7)
    }
}
