import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC
import Checkpoints

/// Shared helpers of the image tests: fixture paths, the OpenCV golden file, hashes and the noise generator that
/// `Scripts/gen_image_fixtures.py` also uses.
enum ImageFixtures {
    static var root: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw ImageError(file: "Fixtures", problem: "test resources missing")
            }
            return url
        }
    }

    static func url(_ relative: String) throws -> URL { try root.appendingPathComponent(relative) }

    /// One expected image of `Tests/VOCTests/Fixtures/images/opencv_golden.json`.
    struct Record: Decodable {
        var file: String?
        var seed: UInt32?
        var srcWidth: Int?
        var srcHeight: Int?
        var channels: Int?
        var width: Int
        var height: Int
        var sha256: String
        var sum64: String
        var head: [UInt8]
        var tail: [UInt8]
        var rowFNV1a: String?
    }

    struct Golden: Decodable {
        var opencv: String
        var decode: [Record]
        var resize: [Record]
        var synthetic: [Record]
    }

    static func golden() throws -> Golden {
        let data = try Data(contentsOf: url("images/opencv_golden.json"))
        return try JSONDecoder().decode(Golden.self, from: data)
    }

    /// xorshift32 (13, 17, 5), one byte (the top 8 bits) per step: the script's `noise`.
    static func noise(seed: UInt32, count: Int) -> [UInt8] {
        var x = seed
        return (0..<count).map { _ in
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            return UInt8(x >> 24)
        }
    }

    /// `MPQ_HEAVY_TESTS=1`: also compare SHA-256 digests (slow in debug builds: about 1 s per MB).
    static var heavy: Bool { ProcessInfo.processInfo.environment["MPQ_HEAVY_TESTS"] == "1" }

    /// The script's `sum64`: bytes as little-endian UInt64 words (zero-padded), `sum(word[i] * ((i * φ64) | 1))`
    /// modulo 2^64. Odd weights: any single changed word changes the sum.
    static func sum64(_ bytes: [UInt8]) -> String {
        var padded = bytes
        padded.append(contentsOf: repeatElement(0, count: (8 - bytes.count % 8) % 8))
        var sum: UInt64 = 0
        padded.withUnsafeBytes { raw in
            for i in 0..<(raw.count / 8) {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                sum = sum &+ word &* ((UInt64(i) &* 0x9E37_79B9_7F4A_7C15) | 1)
            }
        }
        return String(format: "%016llx", sum)
    }

    static func fnv1a32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var h: UInt32 = 0x811C_9DC5
        for b in bytes { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return h
    }

    /// Asserts `pixels` (HWC bytes, `rowLength` bytes per row) matches `record`; on a mismatch says where: the
    /// first/last bytes, and with per-row hashes the first differing row and our bytes at its start.
    static func assertMatches(_ pixels: [UInt8], rowLength: Int, _ record: Record, _ what: String,
                              file: StaticString = #filePath, line: UInt = #line) {
        let digest = heavy ? SHA256.hex(pixels) : record.sha256
        let sum = sum64(pixels)
        if sum == record.sum64 && digest == record.sha256 { return }
        var detail = "head \(Array(pixels.prefix(12))) vs OpenCV \(record.head); "
            + "tail \(Array(pixels.suffix(12))) vs OpenCV \(record.tail)"
        if let rows = record.rowFNV1a, rowLength > 0 {
            let expected = Array(rows.utf8)
            for y in 0..<(pixels.count / rowLength) where 8 * y + 8 <= expected.count {
                let row = pixels[(y * rowLength)..<((y + 1) * rowLength)]
                let ours = String(format: "%08x", fnv1a32(row))
                if ours != String(decoding: expected[(8 * y)..<(8 * y + 8)], as: UTF8.self) {
                    detail += "; first differing row y = \(y), ours starts \(Array(row.prefix(12)))"
                    break
                }
            }
        }
        XCTFail("\(what): differs from OpenCV (sum64 \(sum) vs \(record.sum64), SHA-256 \(digest) vs \(record.sha256); "
                + detail + ")", file: file, line: line)
    }
}

final class ChecksumTests: XCTestCase {
    /// sum64 of 9 bytes 1...9: words 0x0807060504030201 (weight 1) and 0x09 (weight φ64 | 1 = 0x9E3779B97F4A7C15),
    /// 9 * 0x9E3779B97F4A7C15 = 0x8FF34785799E5CBD (mod 2^64), plus 0x0807060504030201 = 0x97FA4D8A7DA15EBE
    /// (Python: `hex((0x0807060504030201 + 9 * 0x9E3779B97F4A7C15) % 2**64)`).
    func testSum64HandComputed() {
        XCTAssertEqual(ImageFixtures.sum64(Array(1...9)), "97fa4d8a7da15ebe")
    }

    func testHeavyModeNote() {
        if !ImageFixtures.heavy {
            print("note: SHA-256 comparison of the OpenCV golden images skipped (slow in debug builds); "
                  + "sum64 checksums are compared instead. Set MPQ_HEAVY_TESTS=1 to compare SHA-256 as well.")
        }
    }
}
