import XCTest
@testable import Checkpoints

final class HalfPrecisionTests: XCTestCase {
    func testEveryHalfValueRoundTrips() {
        for bits in UInt16.min...UInt16.max {
            let f = HalfPrecision.float(fromHalf: bits)
            if f.isNaN { continue }  // NaN payloads are not preserved bit for bit (quiet bit set)
            XCTAssertEqual(HalfPrecision.half(fromFloat: f), bits, "0x\(String(bits, radix: 16))")
        }
    }

    func testHandComputedHalfConversions() {
        XCTAssertEqual(HalfPrecision.float(fromHalf: 0x3C00), 1)
        XCTAssertEqual(HalfPrecision.float(fromHalf: 0xC000), -2)
        XCTAssertEqual(HalfPrecision.float(fromHalf: 0x7BFF), 65504)           // largest finite half
        XCTAssertEqual(HalfPrecision.float(fromHalf: 0x0001), 0x1p-24)         // smallest subnormal
        XCTAssertEqual(HalfPrecision.float(fromHalf: 0x7C00), .infinity)
        XCTAssertTrue(HalfPrecision.float(fromHalf: 0x7E00).isNaN)
        XCTAssertEqual(HalfPrecision.half(fromFloat: 65520), 0x7C00)          // halfway 65504..65536 -> even = inf
        XCTAssertEqual(HalfPrecision.half(fromFloat: 65519), 0x7BFF)
        XCTAssertEqual(HalfPrecision.half(fromFloat: 0x1p-25), 0x0000)        // halfway 0..2^-24 -> even = 0
        XCTAssertEqual(HalfPrecision.half(fromFloat: 0x1.8p-25), 0x0001)      // 0.75 ulp -> 1 ulp
        XCTAssertEqual(HalfPrecision.half(fromFloat: 1 + 0x1p-11), 0x3C00)    // tie -> even mantissa 0
        XCTAssertEqual(HalfPrecision.half(fromFloat: 1 + 0x1.8p-10), 0x3C02)  // tie between 1 and 2 ulp -> 2
        XCTAssertEqual(HalfPrecision.half(fromFloat: -0.0), 0x8000)
        XCTAssertEqual(HalfPrecision.half(fromFloat: 1e-10), 0x0000)
        XCTAssertEqual(HalfPrecision.half(fromFloat: .nan) & 0x7E00, 0x7E00)
    }

    func testHandComputedBFloat16Conversions() {
        XCTAssertEqual(HalfPrecision.float(fromBFloat16: 0x3F80), 1)
        XCTAssertEqual(HalfPrecision.bfloat16(fromFloat: 1), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16(fromFloat: 1 + 0x1p-8), 0x3F80)    // tie -> even
        XCTAssertEqual(HalfPrecision.bfloat16(fromFloat: 1 + 0x1.8p-7), 0x3F82)  // tie -> even (2 ulp)
        XCTAssertEqual(HalfPrecision.bfloat16(fromFloat: 1 + 0x1.1p-8), 0x3F81)  // above half -> up
        XCTAssertTrue(HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(fromFloat: .nan)).isNaN)
    }

    func testStoredTensorInitialisersConvertAndRoundTrip() throws {
        let values: [Float] = [0.1, -3.5, 1000.25, 0]
        XCTAssertEqual(try StoredTensor(floats: values, shape: [2, 2]).floats(), values)
        // float16 of 0.1 is 0x2E66 = 0.0999755859375; 1000.25 rounds to 1000 (ulp 0.5 at 512..1024: tie -> even).
        let half = StoredTensor(floats: values, shape: [4], as: .float16)
        XCTAssertEqual(try half.floats(), [0.0999755859375, -3.5, 1000, 0])
        XCTAssertEqual(try StoredTensor(floats: values, shape: [4], as: .float64).floats(), values)
        XCTAssertEqual(try StoredTensor(int8s: [-128, 5], shape: [2]).int8s(), [-128, 5])
        XCTAssertEqual(try StoredTensor(int64s: [1 << 40], shape: []).int64s(), [1 << 40])
        XCTAssertEqual(try StoredTensor(bools: [true, false], shape: [2]).floats(), [1, 0])
        XCTAssertThrowsError(try StoredTensor(dtype: .float32, shape: [3], data: Data(count: 8)))
        XCTAssertThrowsError(try StoredTensor(floats: [1], shape: [1]).int8s())
        XCTAssertThrowsError(try StoredTensor(floats: [1], shape: [1]).int64s())
    }
}

final class ZipCRC32Tests: XCTestCase {
    func testKnownChecksums() {
        // The standard check value of CRC-32/ISO-HDLC: crc32("123456789") = 0xCBF43926.
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { ZipCRC32.checksum($0) }, 0xCBF4_3926)
        XCTAssertEqual([UInt8]().withUnsafeBytes { ZipCRC32.checksum($0) }, 0)
        // Python: zlib.crc32(bytes(range(256)) * 3) == 0xb0c0df2a.
        XCTAssertEqual((Array(0...255) + Array(0...255) + Array(0...255)).map { UInt8($0) }
            .withUnsafeBytes { ZipCRC32.checksum($0) }, 0xB0C0_DF2A)
        // Against a bit-by-bit oracle on other data.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var oracle: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            oracle ^= UInt32(b)
            for _ in 0..<8 { oracle = (oracle & 1) != 0 ? (0xEDB8_8320 ^ (oracle >> 1)) : (oracle >> 1) }
        }
        XCTAssertEqual(bytes.withUnsafeBytes { ZipCRC32.checksum($0) }, ~oracle)
        // Continuing over a split gives the same as one pass.
        let split = bytes.withUnsafeBytes { raw in
            ZipCRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[13...]),
                              continuing: ZipCRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[..<13])))
        }
        XCTAssertEqual(split, ~oracle)
    }
}
