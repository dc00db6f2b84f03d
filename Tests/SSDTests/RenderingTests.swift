import Foundation
import Imaging
import VOC
import XCTest
@testable import SSD

final class RenderingTests: XCTestCase {
    func testChecksumsAgainstPublishedValues() {
        // CRC-32 of the bytes "IEND" is the constant every PNG ends with: AE 42 60 82.
        XCTAssertEqual(PNGEncoder.crc32(Data("IEND".utf8)), 0xAE42_6082)
        // Adler-32("Wikipedia") = 0x11E60398 (the RFC 1950 worked example used on Wikipedia).
        XCTAssertEqual(PNGEncoder.adler32(Data("Wikipedia".utf8)), 0x11E6_0398)
    }

    /// Parses the PNG back (chunks, CRCs, stored deflate blocks, Adler-32) and recovers the exact pixels.
    func testPNGRoundTripsThroughItsOwnStructure() throws {
        // 300 x 250 RGB = 225,750 bytes of scanlines: several 65,535-byte stored blocks.
        let w = 300, h = 250
        let pixels: [UInt8] = (0..<(w * h * 3)).map { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i &* 7 &+ i / 911) }
        let png = PNGEncoder.encode(RGBImage(width: w, height: h, pixels: pixels))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var offset = 8
        var chunks: [(String, Data)] = []
        func u32(_ i: Int) -> UInt32 { png[i..<(i + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        while offset < png.count {
            let length = Int(u32(offset))
            let typed = png[(offset + 4)..<(offset + 8 + length)]
            XCTAssertEqual(u32(offset + 8 + length), PNGEncoder.crc32(Data(typed)), "chunk CRC")
            chunks.append((String(decoding: typed.prefix(4), as: UTF8.self), Data(typed.dropFirst(4))))
            offset += 12 + length
        }
        XCTAssertEqual(chunks.map(\.0), ["IHDR", "IDAT", "IEND"])
        XCTAssertEqual(Array(chunks[0].1), [0, 0, 1, 44, 0, 0, 0, 250, 8, 2, 0, 0, 0])
        // Inflate the stored blocks by hand.
        let z = chunks[1].1
        XCTAssertEqual(Array(z.prefix(2)), [0x78, 0x01])
        XCTAssertEqual((UInt16(z[z.startIndex]) << 8 | UInt16(z[z.startIndex + 1])) % 31, 0, "zlib header check")
        var i = z.startIndex + 2
        var raw = Data()
        var final = false
        while !final {
            final = z[i] & 1 == 1
            XCTAssertEqual(z[i] >> 1, 0, "stored block")
            let lo = Int(z[i + 1]), hi = Int(z[i + 2]), nlo = Int(z[i + 3]), nhi = Int(z[i + 4])
            let len: Int = lo + 256 * hi
            let nlen: Int = nlo + 256 * nhi
            XCTAssertEqual(len ^ 0xFFFF, nlen)
            raw.append(z[(i + 5)..<(i + 5 + len)])
            i += 5 + len
        }
        let adler = z[i..<(i + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        XCTAssertEqual(adler, PNGEncoder.adler32(raw))
        XCTAssertEqual(raw.count, h * (1 + 3 * w))
        var recovered: [UInt8] = []
        let stride = 1 + 3 * w
        let bytes = [UInt8](raw)
        for y in 0..<h {
            let start: Int = y * stride
            XCTAssertEqual(bytes[start], 0, "filter none")
            recovered.append(contentsOf: bytes[(start + 1)..<(start + stride)])
        }
        XCTAssertEqual(recovered, pixels)
    }

    func testOverlayDrawsBoxAndLabelInsideTheImage() {
        var image = RGBImage(width: 40, height: 40, pixels: [UInt8](repeating: 255, count: 40 * 40 * 3))
        let d = Detection(classIndex: 0, score: 0.5, x1: 10, y1: 30, x2: 30, y2: 39.6)
        DetectionOverlay.draw([d], names: ["cat"], on: &image)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(image.pixels[(3 * (y * 40 + x))..<(3 * (y * 40 + x) + 3)]) }
        // Class 0's colour (230, 25, 75) on the box edges; y2 = 39.6 rounds to 39 (clamped to the last row).
        XCTAssertEqual(pixel(20, 39), [230, 25, 75])
        XCTAssertEqual(pixel(30, 35), [230, 25, 75])
        // Inside the box, below the label tab (tab is 18 px high above y1 = 30 -> rows 12…29): untouched.
        XCTAssertEqual(pixel(20, 35), [255, 255, 255])
        // The tab: filled with the class colour at its left edge; white ink somewhere in it.
        XCTAssertEqual(pixel(10, 12), [230, 25, 75])
        XCTAssertTrue((12..<30).contains { y in (10..<40).contains { x in pixel(x, y) == [255, 255, 255] } })
        XCTAssertEqual(pixel(5, 5), [255, 255, 255])
    }
}
