import CZlib
import Foundation

/// Decodes the PNGs the renderers produce (8-bit RGB or RGBA, not interlaced, any row filter) back
/// to pixels, and shrinks them: the MCP server's thumbnails of rendered images.
public enum PNGReader {
    public static func decode(_ png: [UInt8]) throws -> RGBImage {
        func bad(_ why: String) -> RenderError { .invalidArgument("cannot read the PNG: \(why)") }
        guard let chunks = PNGText.chunks(png), let header = chunks.first, header.type == "IHDR", header.data.count == 13 else {
            throw bad("not a well-formed PNG")
        }
        let h = Array(header.data)
        func u32(_ i: Int) -> Int { Int(h[i]) << 24 | Int(h[i + 1]) << 16 | Int(h[i + 2]) << 8 | Int(h[i + 3]) }
        let width = u32(0), height = u32(4)
        guard h[8] == 8, h[10] == 0, h[11] == 0, h[12] == 0 else { throw bad("only 8-bit, non-interlaced images are read") }
        let channels: Int
        switch h[9] {
        case 2: channels = 3
        case 6: channels = 4
        default: throw bad("colour type \(h[9]) is not RGB or RGBA")
        }
        guard width > 0, height > 0, width <= 1 << 14, height <= 1 << 14 else { throw bad("size \(width)x\(height) is out of range") }
        let compressed = chunks.filter { $0.type == "IDAT" }.flatMap { Array($0.data) }
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var size = uLong(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { o in
            compressed.withUnsafeBufferPointer { i in uncompress(o.baseAddress, &size, i.baseAddress, uLong(i.count)) }
        }
        guard status == Z_OK, Int(size) == raw.count else { throw bad("the image data does not inflate to \(width)x\(height) pixels") }
        var rows = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)], src = y * (stride + 1) + 1, dst = y * stride
            for x in 0..<stride {
                let a = x >= channels ? Int(rows[dst + x - channels]) : 0
                let b = y > 0 ? Int(rows[dst - stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(rows[dst - stride + x - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4: predictor = Int(PNGWriter.paeth(UInt8(a), UInt8(b), UInt8(c)))
                default: throw bad("row \(y) has unknown filter \(filter)")
                }
                rows[dst + x] = UInt8(truncatingIfNeeded: Int(raw[src + x]) + predictor)
            }
        }
        if channels == 3 { return try RGBImage(width: width, height: height, pixels: rows) }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[i * 3] = rows[i * 4]; rgb[i * 3 + 1] = rows[i * 4 + 1]; rgb[i * 3 + 2] = rows[i * 4 + 2]
        }
        return try RGBImage(width: width, height: height, pixels: rgb)
    }
}

extension RGBImage {
    /// The image scaled to fit `maxSide` (box filter; never enlarged).
    public func thumbnail(maxSide: Int) throws -> RGBImage {
        let scale = min(1, Double(maxSide) / Double(max(width, height)))
        let w = max(1, Int((Double(width) * scale).rounded())), h = max(1, Int((Double(height) * scale).rounded()))
        guard w != width || h != height else { return self }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for ty in 0..<h {
            let y0 = ty * height / h, y1 = max(y0 + 1, (ty + 1) * height / h)
            for tx in 0..<w {
                let x0 = tx * width / w, x1 = max(x0 + 1, (tx + 1) * width / w)
                var sum = (0, 0, 0)
                for y in y0..<y1 {
                    for x in x0..<x1 {
                        let p = (y * width + x) * 3
                        sum.0 += Int(pixels[p]); sum.1 += Int(pixels[p + 1]); sum.2 += Int(pixels[p + 2])
                    }
                }
                let n = (y1 - y0) * (x1 - x0), q = (ty * w + tx) * 3
                out[q] = UInt8(sum.0 / n); out[q + 1] = UInt8(sum.1 / n); out[q + 2] = UInt8(sum.2 / n)
            }
        }
        return try RGBImage(width: w, height: h, pixels: out)
    }
}
