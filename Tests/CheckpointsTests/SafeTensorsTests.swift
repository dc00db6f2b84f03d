import Foundation
import XCTest
@testable import Checkpoints

final class SafeTensorsTests: XCTestCase {
    func testHandWrittenFileMatchesExpectedValues() throws {
        let expected = try Fixtures.expected()
        let (dict, format) = try Checkpoint.load(Fixtures.url("hand.safetensors"))
        XCTAssertEqual(format, .safetensors)
        try assertMatches(dict, expected.safetensors)
        XCTAssertEqual(dict.metadata, expected.safetensors_metadata)
    }

    func testExactBytesOfATinyFile() throws {
        var dict = StateDict()
        dict.set("a", StoredTensor(floats: [1, -2], shape: [2]))
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#  // 54 bytes, padded to 56
        XCTAssertEqual(header.utf8.count, 54)
        let expected: [UInt8] = [56, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + [0x20, 0x20]
            + [0x00, 0x00, 0x80, 0x3F] + [0x00, 0x00, 0x00, 0xC0]  // 1.0f and -2.0f little-endian
        XCTAssertEqual([UInt8](SafeTensors.encode(dict)), expected)
    }

    func testRoundTripKeepsOrderDtypesValuesAndMetadata() throws {
        let (original, _) = try Checkpoint.load(Fixtures.url("small_zip.pth"))
        var withMeta = original
        withMeta.metadata = ["arch": "mb2-ssd-lite", "quote\"and\\slash": "line\nbreak é"]
        let url = Fixtures.temporary("roundtrip.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(withMeta, to: url)
        // For the cross-check with Python (Scripts/check_safetensors.py): keep a copy when asked.
        if let dir = ProcessInfo.processInfo.environment["MPQ_CHECKPOINTS_WRITE_DIR"] {
            try SafeTensors.write(withMeta, to: URL(fileURLWithPath: dir).appendingPathComponent("small_from_swift.safetensors"))
        }
        let (back, format) = try Checkpoint.load(url)
        XCTAssertEqual(format, .safetensors)
        XCTAssertEqual(back.metadata, withMeta.metadata)
        // Buffer order is key order, except that empty tensors sort by name among equal offsets.
        XCTAssertEqual(Set(back.keys), Set(original.keys))
        XCTAssertEqual(back.keys.filter { original[$0]?.count != 0 }, original.keys.filter { original[$0]?.count != 0 })
        for key in original.keys { XCTAssertEqual(back[key], original[key], key) }
        try assertMatches(back, Fixtures.expected().small.sorted {
            back.keys.firstIndex(of: $0.key) ?? 0 < back.keys.firstIndex(of: $1.key) ?? 0
        })
    }

    /// A safetensors file with the given header text and buffer.
    private func file(_ header: String, buffer: [UInt8] = [UInt8](repeating: 0, count: 16)) -> Data {
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(contentsOf: buffer)
        return data
    }

    private func refusal(_ header: String, buffer: [UInt8] = [UInt8](repeating: 0, count: 16)) -> String {
        checkpointError { _ = try SafeTensors.read(data: file(header, buffer: buffer), file: "bad.safetensors") }?
            .description ?? ""
    }

    func testBadHeadersAreRefused() {
        // Sanity: the well-formed base case reads (4 F32 = 16 bytes).
        XCTAssertNoThrow(try SafeTensors.read(data: file(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#),
                                              file: "good"))
        XCTAssertTrue(refusal(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#).contains("outside"))
        XCTAssertTrue(refusal(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#)
            .contains("overlaps"))
        XCTAssertTrue(refusal(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]"#).contains("not valid JSON"))
        XCTAssertTrue(refusal(#"["not","an","object"]"#).contains("not a JSON object"))
        XCTAssertTrue(refusal(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#).contains("do not hold"))
        XCTAssertTrue(refusal(#"{"w":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}}"#).contains("unsupported dtype"))
        XCTAssertTrue(refusal(#"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#).contains("shape"))
        XCTAssertTrue(refusal(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}"#).contains("outside"))
        XCTAssertTrue(refusal(#"{"__metadata__":{"epoch":3}}"#).contains("not a string"))
        // Shape product overflowing Int: refused by the element limit (InputLimits.maxTensorElements = 2^32).
        XCTAssertTrue(refusal(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#)
            .contains("more than 4294967296 elements"))
    }

    func testHeaderOf128BytesIsNotMistakenForAPickle() throws {
        // N = 128 makes the first byte 0x80, the pickle PROTO opcode; detection must still say safetensors.
        var text = #"{"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}"#
        text += String(repeating: " ", count: 128 - text.utf8.count)
        let url = Fixtures.temporary("header128.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file(text, buffer: [0xFE, 0x07]).write(to: url)
        let (dict, format) = try Checkpoint.load(url)
        XCTAssertEqual(format, .safetensors)
        XCTAssertEqual(try dict["w"]?.int8s(), [-2, 7])
    }

    func testDeeplyNestedJSONHeaderIsRefusedWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertFalse(refusal("{\"w\":\(deep)}").isEmpty)
    }

    func testHeaderLengthBeyondTheFileIsRefused() {
        var data = file(#"{}"#)
        data.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0x00, 0, 0, 0, 0])  // 16 MB header in a 26-byte file
        guard case .truncated? = checkpointError({ _ = try SafeTensors.read(data: data, file: "f") }) else {
            return XCTFail("not refused as truncated")
        }
        data.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x80])  // 2^63
        XCTAssertNotNil(checkpointError { _ = try SafeTensors.read(data: data, file: "f") })
    }

    func testWriteFailureNamesTheFile() {
        let url = URL(fileURLWithPath: "/proc/mpq-cannot-write-here/x.safetensors")
        guard case let .unwritable(file, _)? = checkpointError({ try SafeTensors.write(StateDict(), to: url) }) else {
            return XCTFail("no unwritable error")
        }
        XCTAssertEqual(file, url.path)
    }
}
