import StylusML
import StylusRender
import XCTest

final class UNetTests: XCTestCase {
    func testOneEvaluationMatchesDiffusers() throws {
        let x = try reference("unet.x"), ctx = try reference("unet.context"), want = try reference("unet.out")
        let n = ctx.shape[1] * ctx.shape[2]
        let contexts = (0..<2).map { Tensor(shape: [ctx.shape[1], ctx.shape[2]], data: Array(ctx.data[($0 * n)..<(($0 + 1) * n)])) }
        for path in [CheckpointTests.ldmPath, CheckpointTests.diffusersPath] {
            let unet = try UNet(Checkpoint(path: path))
            let t = Double(TinySD.reference.unet_timestep)
            let eps = try unet(x, timesteps: [t, t], context: contexts)
            XCTAssertEqual(eps.shape, want.shape)
            assertRelative(eps.data, want.data, 1e-4, "\(path) UNet")
        }
    }

    /// Any latent size runs, as in diffusers (odd sides are rounded up going down and resized to the
    /// skips going up; parity at such a size is SDXLParityTests'); wrong channels or batch are refused.
    func testAnyLatentSizeRunsAndBadInputsAreRejected() throws {
        let unet = try UNet(Checkpoint(path: CheckpointTests.ldmPath))
        let ctx = Tensor(zeros: [77, 16])
        XCTAssertEqual(try unet(Tensor(zeros: [1, 4, 12, 9]), timesteps: [1], context: [ctx]).shape, [1, 4, 12, 9])
        XCTAssertThrowsError(try unet(Tensor(zeros: [1, 3, 8, 8]), timesteps: [1], context: [ctx]))
        XCTAssertThrowsError(try unet(Tensor(zeros: [1, 4, 8, 8]), timesteps: [1, 2], context: [ctx]))
    }
}
