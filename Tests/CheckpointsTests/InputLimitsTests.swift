import Foundation
import SafeIO
import XCTest
import ZIPFoundation
@testable import Checkpoints

/// One test per checkpoint limit of `InputLimits`: an input just over the limit is refused with an error naming
/// the limit, and (where it is cheap) an input just at it is accepted.
final class InputLimitsTests: XCTestCase {
    private func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
        let unpickler = Unpickler(file: "limits.pkl") { _, offset in
            throw CheckpointError.malformedPickle(file: "limits.pkl", offset: offset, problem: "no persistent ids")
        }
        defer { unpickler.releaseGraph() }
        return try bytes.withUnsafeBytes { raw -> PickleValue in
            var reader = ByteReader(raw, file: "limits.pkl")
            let value = try unpickler.load(&reader)
            // Keep only a scalar view: the graph is released on return.
            if case .none = value { return .none }
            return .int(value.asInt ?? -1)
        }
    }

    private func assertRefused(_ bytes: [UInt8], _ phrase: String, line: UInt = #line) {
        XCTAssertThrowsError(try unpickle(bytes), line: line) { error in
            guard case let .malformedPickle(file, _, problem)? = error as? CheckpointError else {
                return XCTFail("\(error)", line: line)
            }
            XCTAssertEqual(file, "limits.pkl", line: line)
            XCTAssertTrue(problem.contains(phrase), problem, line: line)
        }
    }

    // Opcodes: NONE 0x4E, POP 0x30, MARK 0x28, MEMOIZE 0x94, STOP 0x2E, LONG1 0x8A.

    func testPickleStackLimit() throws {
        let n = InputLimits.maxPickleStack
        XCTAssertNoThrow(try unpickle([UInt8](repeating: 0x4E, count: n) + [0x2E]))
        assertRefused([UInt8](repeating: 0x4E, count: n + 1) + [0x2E], "more than \(n) values on the stack")
    }

    func testPickleMemoLimit() throws {
        let n = InputLimits.maxPickleMemo
        XCTAssertNoThrow(try unpickle([0x4E] + [UInt8](repeating: 0x94, count: n) + [0x2E]))
        assertRefused([0x4E] + [UInt8](repeating: 0x94, count: n + 1) + [0x2E], "more than \(n) memo entries")
    }

    func testPickleMarkLimit() throws {
        let n = InputLimits.maxPickleMarks
        XCTAssertNoThrow(try unpickle([UInt8](repeating: 0x28, count: n) + [0x4E, 0x2E]))
        assertRefused([UInt8](repeating: 0x28, count: n + 1) + [0x4E, 0x2E], "more than \(n) nested MARKs")
    }

    /// 20 M opcodes run in a few seconds in a debug build, so only the refusal is tested: NONE, POP pairs up to the
    /// limit, then one more opcode.
    func testPickleOpcodeLimit() throws {
        let n = InputLimits.maxPickleOpcodes
        var bytes = [UInt8](repeating: 0x30, count: n + 2)
        for i in stride(from: 0, to: n, by: 2) { bytes[i] = 0x4E }
        bytes[n] = 0x4E
        bytes[n + 1] = 0x2E
        assertRefused(bytes, "more than \(n) opcodes")
    }

    func testPickleIntegerBytesLimit() throws {
        let n = InputLimits.maxPickleIntegerBytes
        // LONG1 of n bytes is accepted (a big integer), LONG4 of n + 1 refused.
        XCTAssertNoThrow(try unpickle([0x8A, UInt8(n)] + [UInt8](repeating: 1, count: n) + [0x2E]))
        assertRefused([0x8B, UInt8(n + 1), 0, 0, 0] + [UInt8](repeating: 1, count: n + 1) + [0x2E], "LONG4 of \(n + 1) bytes")
    }

    // MARK: safetensors

    private func safetensors(header: String, buffer: Int = 0) throws -> URL {
        var text = Array(header.utf8)
        while text.count % 8 != 0 { text.append(0x20) }
        var data = Data()
        var n = UInt64(text.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: text)
        data.append(Data(count: buffer))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limits-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try data.write(to: url)
        return url
    }

    func testTensorElementLimit() throws {
        // 2^32 + 2^16 one-byte elements declared over 8 bytes: refused for the element count itself (the byte
        // check alone would say only that the offsets do not match).
        let over = try safetensors(header: #"{"t":{"dtype":"U8","shape":[65536,65537],"data_offsets":[0,8]}}"#, buffer: 8)
        XCTAssertThrowsError(try SafeTensors.read(over)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("more than \(InputLimits.maxTensorElements) elements, the limit for one tensor"), text)
            XCTAssertTrue(text.contains(over.path), text)
        }
        // At the limit the element rule passes; the file then fails only on its bytes (4 GiB are not there).
        let at = try safetensors(header: #"{"t":{"dtype":"U8","shape":[65536,65536],"data_offsets":[0,8]}}"#, buffer: 8)
        XCTAssertThrowsError(try SafeTensors.read(at)) { error in
            XCTAssertTrue("\(error)".contains("do not hold shape"), "\(error)")
        }
    }

    func testSafetensorsHeaderLimit() throws {
        var data = Data()
        var n = UInt64(InputLimits.maxSafetensorsHeaderBytes + 1).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array("{}      ".utf8))
        XCTAssertThrowsError(try SafeTensors.read(data: data, file: "big.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("declared length \(InputLimits.maxSafetensorsHeaderBytes + 1) exceeds "
                + "\(InputLimits.maxSafetensorsHeaderBytes) bytes"), "\(error)")
        }
    }

    // MARK: zip archives

    /// A zip of `count` empty stored entries `e/000000`, … (local headers, central directory, end record).
    private func zipOfEmptyEntries(_ count: Int) throws -> URL {
        var local = Data(), central = Data()
        func le(_ v: Int, _ bytes: Int, into d: inout Data) { for i in 0..<bytes { d.append(UInt8((v >> (8 * i)) & 0xFF)) } }
        for i in 0..<count {
            let name = Array(String(format: "e/%06d", i).utf8)
            let offset = local.count
            le(0x0403_4B50, 4, into: &local); le(20, 2, into: &local); le(0, 2, into: &local); le(0, 2, into: &local)
            le(0, 2, into: &local); le(0x21, 2, into: &local); le(0, 4, into: &local); le(0, 4, into: &local)
            le(0, 4, into: &local); le(name.count, 2, into: &local); le(0, 2, into: &local)
            local.append(contentsOf: name)
            le(0x0201_4B50, 4, into: &central); le(20, 2, into: &central); le(20, 2, into: &central)
            le(0, 2, into: &central); le(0, 2, into: &central); le(0, 2, into: &central); le(0x21, 2, into: &central)
            le(0, 4, into: &central); le(0, 4, into: &central); le(0, 4, into: &central)
            le(name.count, 2, into: &central); le(0, 2, into: &central); le(0, 2, into: &central)
            le(0, 2, into: &central); le(0, 2, into: &central); le(0, 4, into: &central); le(offset, 4, into: &central)
            central.append(contentsOf: name)
        }
        var data = local
        data.append(central)
        le(0x0605_4B50, 4, into: &data); le(0, 2, into: &data); le(0, 2, into: &data)
        le(count, 2, into: &data); le(count, 2, into: &data); le(central.count, 4, into: &data)
        le(local.count, 4, into: &data); le(0, 2, into: &data)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("limits-\(UUID().uuidString).pth")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try data.write(to: url)
        return url
    }

    func testZipEntryLimit() throws {
        let n = InputLimits.maxZipEntries
        XCTAssertThrowsError(try PyTorchZipReader.read(try zipOfEmptyEntries(n))) { error in
            XCTAssertTrue("\(error)".contains("no <root>/data.pkl entry"), "at the limit: read on, \(error)")
        }
        let over = try zipOfEmptyEntries(n + 1)
        XCTAssertThrowsError(try PyTorchZipReader.read(over)) { error in
            XCTAssertTrue("\(error)".contains(over.path) && "\(error)".contains("more than \(n) entries"), "\(error)")
        }
    }

    /// A deflated `archive/data.pkl` whose declared uncompressed size is patched to just over (refused before it
    /// is inflated) and to just at `compressed · ratio + 4096` (let through to the inflater, which then finds the
    /// size wrong: a different error).
    func testZipCompressionRatioLimit() throws {
        let archive = try Archive(accessMode: .create)
        let payload = Data(repeating: 0x2E, count: 200_000)
        try archive.addEntry(with: "archive/data.pkl", type: .file, uncompressedSize: Int64(payload.count),
                             compressionMethod: .deflate) { position, size in
            payload.subdata(in: Int(position)..<(Int(position) + size))
        }
        let original = try XCTUnwrap(archive.data)
        let entry = try XCTUnwrap(archive["archive/data.pkl"])
        let compressed = Int(entry.compressedSize)
        func patched(uncompressed: Int) throws -> URL {
            var data = original
            // The size sits at byte 22 of the local header and byte 24 of the central directory record.
            for (signature, at) in [([0x50, 0x4B, 0x03, 0x04] as [UInt8], 22), ([0x50, 0x4B, 0x01, 0x02], 24)] {
                let start = try XCTUnwrap(data.firstRange(of: Data(signature))?.lowerBound)
                for i in 0..<4 { data[start + at + i] = UInt8((uncompressed >> (8 * i)) & 0xFF) }
            }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("ratio-\(UUID().uuidString).pth")
            addTeardownBlock { try? FileManager.default.removeItem(at: url) }
            try data.write(to: url)
            return url
        }
        let limit = compressed * Int(InputLimits.maxZipCompressionRatio) + 4096
        let over = try patched(uncompressed: limit + 1)
        XCTAssertThrowsError(try PyTorchZipReader.read(over)) { error in
            XCTAssertTrue("\(error)".contains("declares \(limit + 1) bytes from \(compressed) stored"), "\(error)")
        }
        XCTAssertThrowsError(try PyTorchZipReader.read(try patched(uncompressed: limit))) { error in
            XCTAssertFalse("\(error)".contains("declares"), "at the limit the size rule passes: \(error)")
        }
    }
}
