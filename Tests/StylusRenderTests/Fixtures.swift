import Foundation
import StylusCore
import XCTest
import TestSupport

/// The tiny SD 1.x fixture written by scripts/gen_tiny_sd_fixture.py.
enum TinySD {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/TinySD").path

    static let reference: Reference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/reference.json"))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    struct Reference: Decodable {
        struct Tokens: Decodable { let text: String; let ids: [Int32] }
        struct Chunks: Decodable {
            let segments: [[Segment]]
            let ids: [[Int32]]
            let multipliers: [[Float]]
            let token_count: Int
        }
        enum Segment: Decodable {
            case text(String), number(Float)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .text(s) } else { self = .number(try c.decode(Float.self)) }
            }
        }
        struct Randn: Decodable { let seed: UInt64; let shape: [Int]; let first: [Float]; let second: [Float] }
        struct RandnBig: Decodable { let seed: UInt64; let shape: [Int]; let head: [Float]; let tail: [Float]; let sum: Double }
        struct Step: Decodable { let timestep: Float; let model_input: [Float]; let eps: [Float]; let x: [Float] }
        struct Sampler: Decodable {
            let noise_seed: UInt64
            let noise: [Float]
            let init_noise_sigma: Float
            let steps: [Step]
            let sigmas: [Float]?
        }
        let tokens: [Tokens]
        let chunks: [String: Chunks]
        let randn: [Randn]
        let randn_big: RandnBig
        let samplers: [String: Sampler]
        let alphas_cumprod: [String: Double]
        let cfg_scale: Float
        let unet_timestep: Float
    }
}

func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "length " + message, file: file, line: line)
    var worst: Float = 0, at = 0
    for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= worst) {
        worst = abs(a[i] - b[i]); at = i
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(message): max abs error \(worst) at \(at)", file: file, line: line)
}
