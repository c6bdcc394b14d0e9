import StylusML
import StylusRender
import XCTest

final class VAEDecoderTests: XCTestCase {
    func testDecodeMatchesDiffusers() throws {
        let z = try reference("vae.latent"), want = try reference("vae.out")
        for path in [CheckpointTests.ldmPath, CheckpointTests.diffusersPath] {
            let vae = try VAEDecoder(Checkpoint(path: path))
            let out = try vae(z.reshaped([1] + z.shape))
            XCTAssertEqual(out.shape, [1] + want.shape)
            assertRelative(out.data, want.data, 1e-4, "\(path) VAE")
        }
    }
}
