import Checkpoints
import Foundation
import XCTest

final class SHA256Tests: XCTestCase {
    /// FIPS 180-2 examples: "abc" and the empty message.
    func testKnownDigests() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // 56 bytes: the padding spills into a second block.
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// 1000 bytes `(31 i) mod 256` (15 full blocks and a tail) through the `Data` entry point the quantized model
    /// file uses; digest from Python: `hashlib.sha256(bytes((i * 31) & 255 for i in range(1000))).hexdigest()`.
    func testMultiBlockData() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        XCTAssertEqual(SHA256.hex(Data(bytes)), "945acdf575d6a2430bf4d6163e1d03b4b0b896fcef107c8b24bf7ff07a621fa3")
    }
}
