import Foundation
import XCTest
@testable import VOC

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

/// A plain SHA-256 (FIPS 180-4) for comparing images with the golden hashes; Foundation on Linux has none.
enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// Digest of `message` as 64 hex digits. Written for speed in debug builds (the tests hash ~20 MB): whole
    /// blocks are read straight from the input, only the padded tail is copied.
    static func hex(_ message: [UInt8]) -> String {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
        let full = message.count / 64 * 64
        var tail = Array(message[full...])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bitLength = UInt64(message.count) * 8
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i)))) }
        let w = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
        defer { w.deallocate() }
        k.withUnsafeBufferPointer { kp in
            guard let k = kp.baseAddress else { return }
            func blocks(_ bytes: UnsafeBufferPointer<UInt8>, count: Int) {
                guard let p = bytes.baseAddress else { return }
                var chunk = 0
                while chunk < count {
                    for i in 0..<16 {
                        w[i] = UInt32(bigEndian: UnsafeRawPointer(p + chunk + 4 * i).loadUnaligned(as: UInt32.self))
                    }
                    for i in 16..<64 {
                        let a = w[i - 15], b = w[i - 2]
                        let s0 = (a >> 7 | a << 25) ^ (a >> 18 | a << 14) ^ (a >> 3)
                        let s1 = (b >> 17 | b << 15) ^ (b >> 19 | b << 13) ^ (b >> 10)
                        w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                    }
                    var (a, b, c, d, e, f, g, hh) = h
                    for i in 0..<64 {
                        let s1 = (e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)
                        let t1 = hh &+ s1 &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                        let s0 = (a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)
                        let t2 = s0 &+ ((a & b) ^ (a & c) ^ (b & c))
                        hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                    }
                    h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
                    chunk += 64
                }
            }
            message.withUnsafeBufferPointer { blocks($0, count: full) }
            tail.withUnsafeBufferPointer { blocks($0, count: $0.count) }
        }
        return [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7].map { String(format: "%08x", $0) }.joined()
    }

}

final class SHA256Tests: XCTestCase {
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

    /// FIPS 180-2 examples: "abc" and the empty message.
    func testKnownDigests() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // 56 bytes: the padding spills into a second block.
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
