import CZlib
import Foundation
import StylusRender
import XCTest

/// PNGReader (the MCP server's thumbnails): what PNGWriter writes reads back exactly, RGBA drops
/// its alpha, bad input throws, thumbnails keep the aspect and average the pixels.
final class PNGReaderTests: XCTestCase {
    func noisyGradient(width: Int, height: Int) throws -> RGBImage {
        var g = TorchCPURandom(seed: 3)
        let noise = g.randn(count: width * height)
        var px: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                // Smooth columns next to noisy ones, so the writer's adaptive filter uses several row filters.
                px += [UInt8(x * 255 / (width - 1)), UInt8(y * 255 / (height - 1)),
                       x % 7 < 3 ? UInt8(clamping: Int(128 + 70 * noise[y * width + x])) : 40]
            }
        }
        return try RGBImage(width: width, height: height, pixels: px)
    }

    func testReadsBackWhatTheWriterWrote() throws {
        for (w, h) in [(1, 1), (37, 23), (64, 9)] {
            let image = try noisyGradient(width: max(2, w), height: max(2, h))
            XCTAssertEqual(try PNGReader.decode(PNGWriter.encode(image, text: [("parameters", "a cat")])), image)
        }
    }

    /// All five row filters on hand-computed rows: Sub then Up; None, Average, Paeth.
    func testEveryRowFilter() throws {
        let subUp = try PNGReader.decode(zlibPNG(width: 2, height: 2, colour: 2, rows: [
            1, 10, 20, 30, 5, 5, 5,
            2, 1, 1, 1, 2, 2, 2,
        ]))
        XCTAssertEqual(subUp.pixels, [10, 20, 30, 15, 25, 35, 11, 21, 31, 17, 27, 37])
        let averagePaeth = try PNGReader.decode(zlibPNG(width: 2, height: 3, colour: 2, rows: [
            0, 100, 100, 100, 50, 50, 50,
            3, 0, 0, 0, 0, 0, 0,          // (left + up) / 2: (0 + 100) / 2, then (50 + 50) / 2
            4, 1, 1, 1, 1, 1, 1,          // Paeth picks up (50) first, then left (51)
        ]))
        XCTAssertEqual(averagePaeth.pixels, [100, 100, 100, 50, 50, 50, 50, 50, 50, 50, 50, 50, 51, 51, 51, 52, 52, 52])
        XCTAssertThrowsError(try PNGReader.decode(zlibPNG(width: 1, height: 1, colour: 2, rows: [5, 1, 2, 3])))  // no filter 5
    }

    func testRGBADropsAlpha() throws {
        // 2x2 RGBA, filter 0 (None) on both rows.
        let image = try PNGReader.decode(zlibPNG(width: 2, height: 2, colour: 6, rows: [
            0, 1, 2, 3, 255, 4, 5, 6, 128,
            0, 7, 8, 9, 0, 10, 11, 12, 9,
        ]))
        XCTAssertEqual(image.pixels, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    }

    func testBadInputThrows() throws {
        XCTAssertThrowsError(try PNGReader.decode([1, 2, 3]))
        let image = try noisyGradient(width: 8, height: 8)
        var png = try PNGWriter.encode(image)
        png.removeLast(30)  // IDAT cut short, no IEND
        XCTAssertThrowsError(try PNGReader.decode(png))
        // 16-bit colour is not what the renderers write: refused with a reason.
        let sixteen = chunkedPNG(header: [0, 0, 0, 1, 0, 0, 0, 1, 16, 2, 0, 0, 0], idat: [])
        XCTAssertThrowsError(try PNGReader.decode(sixteen)) { XCTAssertTrue("\($0)".contains("8-bit"), "\($0)") }
    }

    func testThumbnailKeepsAspectAndAverages() throws {
        let flat = try RGBImage(width: 256, height: 192, pixels: [UInt8](repeating: 90, count: 256 * 192 * 3))
        let small = try flat.thumbnail(maxSide: 128)
        XCTAssertEqual([small.width, small.height], [128, 96])
        XCTAssertEqual(Set(small.pixels), [90])
        // Two-pixel stripes average to their mean.
        var stripes: [UInt8] = []
        for _ in 0..<4 { for x in 0..<4 { stripes += x % 2 == 0 ? [0, 0, 0] : [200, 100, 50] } }
        let half = try RGBImage(width: 4, height: 4, pixels: stripes).thumbnail(maxSide: 2)
        XCTAssertEqual(half.pixels, [100, 50, 25, 100, 50, 25, 100, 50, 25, 100, 50, 25])
        // Never enlarged.
        let tiny = try RGBImage(width: 3, height: 2, pixels: [UInt8](repeating: 1, count: 18))
        XCTAssertEqual(try tiny.thumbnail(maxSide: 128), tiny)
    }

    /// An 8-bit PNG of already filtered rows (each row's filter byte first).
    func zlibPNG(width: UInt8, height: UInt8, colour: UInt8, rows: [UInt8]) throws -> [UInt8] {
        var size = compressBound(uLong(rows.count))
        var zdata = [UInt8](repeating: 0, count: Int(size))
        XCTAssertEqual(compress2(&zdata, &size, rows, uLong(rows.count), 6), Z_OK)
        return chunkedPNG(header: [0, 0, 0, width, 0, 0, 0, height, 8, colour, 0, 0, 0], idat: Array(zdata.prefix(Int(size))))
    }

    /// A PNG of the given IHDR data and IDAT bytes (CRCs computed).
    func chunkedPNG(header: [UInt8], idat: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        for (type, data) in [("IHDR", header), ("IDAT", idat), ("IEND", [])] {
            let typed = Array(type.utf8) + data
            let c = UInt32(crc32(0, typed, uInt(typed.count)))
            for v in [UInt32(data.count)] { out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
            out += typed
            out += [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF)]
        }
        return out
    }
}
