import CZlib
import Foundation
import StylusRender
import XCTest

/// The tests' PNG reader: chunk CRCs, the header, text chunks; pixels from `PNGReader`.
struct DecodedPNG {
    var width = 0, height = 0
    var pixels: [UInt8] = []
    var text: [String: String] = [:]

    init(_ bytes: [UInt8]) throws {
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var i = 8
        var idat: [UInt8] = []
        func u32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        var sawEnd = false
        while i < bytes.count {
            let length = u32(i)
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            let data = Array(bytes[(i + 8)..<(i + 8 + length)])
            let crc = bytes[(i + 4)..<(i + 8 + length)].withContiguousStorageIfAvailable {
                crc32(0, $0.baseAddress, uInt($0.count))
            }!
            XCTAssertEqual(Int(crc), u32(i + 8 + length), "CRC of \(type)")
            switch type {
            case "IHDR":
                width = data[0..<4].reduce(0) { $0 << 8 | Int($1) }
                height = data[4..<8].reduce(0) { $0 << 8 | Int($1) }
                XCTAssertEqual(Array(data[8...]), [8, 2, 0, 0, 0])
            case "tEXt":
                let z = data.firstIndex(of: 0)!
                text[String(decoding: data[..<z], as: UTF8.self)] = String(data[(z + 1)...].map { Character(Unicode.Scalar($0)) })
            case "iTXt":
                let z = data.firstIndex(of: 0)!
                XCTAssertEqual(Array(data[(z + 1)..<(z + 5)]), [0, 0, 0, 0])
                text[String(decoding: data[..<z], as: UTF8.self)] = String(decoding: data[(z + 5)...], as: UTF8.self)
            case "IDAT": idat += data
            case "IEND": sawEnd = true
            default: XCTFail("unexpected chunk \(type)")
            }
            i += 12 + length
        }
        XCTAssertTrue(sawEnd)
        XCTAssertFalse(idat.isEmpty)
        // Pixels through the library's reader, which PNGReaderTests checks on hand-filtered rows.
        let image = try PNGReader.decode(bytes)
        XCTAssertEqual([image.width, image.height], [width, height])
        pixels = image.pixels
    }
}

final class PNGWriterTests: XCTestCase {
    func gradient(width: Int, height: Int) throws -> RGBImage {
        var px: [UInt8] = []
        var g = TorchCPURandom(seed: 9)
        let noise = g.randn(count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                // smooth areas (Sub/Up/Paeth win) next to noisy ones (None wins)
                let n = UInt8(clamping: Int(128 + 60 * noise[y * width + x]))
                px += [UInt8(x * 255 / max(1, width - 1)), UInt8(y * 255 / max(1, height - 1)), x < width / 2 ? n : 77]
            }
        }
        return try RGBImage(width: width, height: height, pixels: px)
    }

    func testRoundTripWithParameters() throws {
        let image = try gradient(width: 37, height: 23)
        var params = RenderParameters(prompt: "a cat, (masterpiece:1.2)", negativePrompt: "blurry", steps: 4,
                                      sampler: "Euler a", cfgScale: 7, seed: 1236, width: 37, height: 23,
                                      modelHash: "0123456789", modelName: "tiny-sd15")
        params.loraHashes = [("style", "abcdef012345"), ("detail", "00ff00ff00ff")]
        let png = try PNGWriter.encode(image, text: [("parameters", params.infotext)])
        let decoded = try DecodedPNG(png)
        XCTAssertEqual(decoded.width, 37)
        XCTAssertEqual(decoded.height, 23)
        XCTAssertEqual(decoded.pixels, image.pixels)
        XCTAssertEqual(decoded.text["parameters"], """
            a cat, (masterpiece:1.2)
            Negative prompt: blurry
            Steps: 4, Sampler: Euler a, CFG scale: 7, Seed: 1236, Size: 37x23, Model hash: 0123456789, \
            Model: tiny-sd15, Lora hashes: "style: abcdef012345, detail: 00ff00ff00ff", Version: stylus
            """)
    }

    func testUnicodePromptGoesToITXt() throws {
        let params = RenderParameters(prompt: "猫 🙂 café", steps: 20, sampler: "DPM++ 2M Karras", cfgScale: 7.5,
                                      seed: 1, width: 1, height: 1)
        let png = try PNGWriter.encode(try RGBImage(width: 1, height: 1, pixels: [1, 2, 3]),
                                       text: [("parameters", params.infotext)])
        let decoded = try DecodedPNG(png)
        XCTAssertEqual(decoded.pixels, [1, 2, 3])
        XCTAssertEqual(decoded.text["parameters"],
                       "猫 🙂 café\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1, Size: 1x1, Version: stylus")
    }

    func testPlanarFloatConversionRoundsLikeDiffusers() throws {
        let img = try RGBImage(planar: [0, 0.5, 1, 2, -1, .nan], width: 2, height: 1)
        // R plane [0, 0.5], G plane [1, 2], B plane [-1, NaN]
        XCTAssertEqual(img.pixels, [0, 255, 0, 128, 255, 0])
    }

    func testWriteNeverOverwrites() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stylus-png-\(UUID()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let image = try gradient(width: 8, height: 8)
        try PNGWriter.write(image, to: path)
        XCTAssertEqual(try DecodedPNG(Array(try Data(contentsOf: URL(fileURLWithPath: path)))).pixels, image.pixels)
        XCTAssertThrowsError(try PNGWriter.write(image, to: path)) { e in
            XCTAssertTrue("\(e)".contains("already exists"), "\(e)")
        }
    }

    func testBadImagesAreRejected() {
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2, pixels: [0]))
        XCTAssertThrowsError(try RGBImage(width: 0, height: 0, pixels: []))
        XCTAssertThrowsError(try RGBImage(width: 100_000, height: 1, pixels: []))
    }
}
