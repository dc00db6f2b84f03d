import Foundation
import XCTest
@testable import Checkpoints

/// Hostile or broken files: each must give a specific `CheckpointError`, never a crash, never execution.
final class HostileInputTests: XCTestCase {
    /// Runs the restricted unpickler on `bytes` and hands the result to `body` while the graph is alive.
    private func unpickle<T>(_ bytes: [UInt8], _ body: (PickleValue) throws -> T) throws -> T {
        let unpickler = Unpickler(file: "inline.pkl") { _, offset in
            throw CheckpointError.malformedPickle(file: "inline.pkl", offset: offset, problem: "no persistent ids here")
        }
        defer { unpickler.releaseGraph() }
        let value = try bytes.withUnsafeBytes { raw -> PickleValue in
            var reader = ByteReader(raw, file: "inline.pkl")
            return try unpickler.load(&reader)
        }
        return try body(value)
    }

    private func refusedGlobal(_ bytes: [UInt8]) -> String? {
        guard case let .forbiddenGlobal(_, _, global)? = checkpointError({ try unpickle(bytes) { _ in () } }) else {
            XCTFail("expected forbiddenGlobal")
            return nil
        }
        return global
    }

    private func global(_ module: String, _ name: String) -> [UInt8] {
        Array("c\(module)\n\(name)\n".utf8)
    }

    func testMaliciousLegacyFileIsRefusedNamingTheGlobal() throws {
        let url = try Fixtures.url("malicious_legacy.pth")
        let error = checkpointError { _ = try Checkpoint.load(url) }
        guard case let .forbiddenGlobal(file, offset, global)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(file, url.path)
        XCTAssertEqual(global, "os.system")
        // Three header pickles (magic 15 bytes, version 6 bytes, sys info) precede it, then PROTO 2 (2 bytes).
        XCTAssertGreaterThan(offset, 21)
        XCTAssertTrue(error?.description.contains("'os.system'") ?? false)
        XCTAssertTrue(error?.description.contains("malicious_legacy.pth") ?? false)
    }

    func testMaliciousZipFileIsRefusedNamingTheGlobal() throws {
        let error = checkpointError { _ = try Checkpoint.load(Fixtures.url("malicious_zip.pth")) }
        guard case let .forbiddenGlobal(file, offset, global)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(file.hasSuffix("malicious_zip.pth!archive/data.pkl"))
        XCTAssertEqual(offset, 2)  // right after PROTO 2
        XCTAssertEqual(global, "os.system")
    }

    func testDangerousGlobalsAreRefusedHowEverTheyAreNamed() {
        let stop: [UInt8] = [0x2E]
        XCTAssertEqual(refusedGlobal([0x80, 0x02] + global("builtins", "eval") + stop), "builtins.eval")
        XCTAssertEqual(refusedGlobal(global("posix", "system") + stop), "posix.system")
        XCTAssertEqual(refusedGlobal(global("subprocess", "Popen") + stop), "subprocess.Popen")
        // Unpickles its bytes argument again: deliberately not allowed.
        XCTAssertEqual(refusedGlobal(global("torch.storage", "_load_from_bytes") + stop), "torch.storage._load_from_bytes")
        XCTAssertEqual(refusedGlobal(global("torch", "load") + stop), "torch.load")
        // Protocol 4 STACK_GLOBAL: SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'exec', STACK_GLOBAL.
        let stacked: [UInt8] = [0x80, 0x04, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("exec".utf8) + [0x93, 0x2E]
        XCTAssertEqual(refusedGlobal(stacked), "builtins.exec")
        // INST names a class to instantiate: refused by name.
        XCTAssertEqual(refusedGlobal([0x28] + Array("ios\nsystem\n".utf8) + stop), "os.system")
    }

    func testObjectBuildingOpcodesAreRefusedEvenOnAllowedGlobals() {
        // OrderedDict via NEWOBJ instead of REDUCE: GLOBAL, EMPTY_TUPLE, NEWOBJ.
        let newobj = [0x80, 0x02] + global("collections", "OrderedDict") + [0x29, 0x81, 0x2E]
        guard case let .malformedPickle(_, offset, problem)? = checkpointError({ try unpickle(newobj) { _ in () } }) else {
            return XCTFail("NEWOBJ accepted")
        }
        XCTAssertEqual(offset, 2 + 25 + 1)  // PROTO(2) + GLOBAL line (25) + EMPTY_TUPLE(1)
        XCTAssertTrue(problem.contains("NEWOBJ"))
        // REDUCE on a non-callable (a string) is refused.
        let reduceString: [UInt8] = [0x58, 1, 0, 0, 0, 0x41, 0x29, 0x52, 0x2E]
        XCTAssertNotNil(checkpointError { try unpickle(reduceString) { _ in () } })
    }

    func testMemoMisuseAndStackUnderflowAreErrors() {
        let cases: [[UInt8]] = [
            [0x68, 0x05, 0x2E],               // BINGET 5 before any PUT
            [0x6A, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E],  // LONG_BINGET 2^31-1
            [0x71, 0x00, 0x2E],               // BINPUT with an empty stack
            [0x61, 0x2E],                     // APPEND with an empty stack
            [0x28, 0x74, 0x74, 0x2E],         // second TUPLE has no MARK
            [0x2E],                           // STOP with an empty stack
            [0x4E, 0x4E, 0x73, 0x2E],         // SETITEM on None
            [0x7D, 0x4E, 0x62, 0x2E],         // BUILD on ... None state onto dict is fine, so:
        ]
        for (i, bytes) in cases.enumerated().dropLast() {
            guard case .malformedPickle? = checkpointError({ try unpickle(bytes) { _ in () } }) else {
                return XCTFail("case \(i) not refused as malformed")
            }
        }
        // BUILD with any state on a dict is accepted (OrderedDict `_metadata`); on an int it is refused.
        XCTAssertNoThrow(try unpickle(cases.last ?? []) { _ in () })
        XCTAssertNotNil(checkpointError { try unpickle([0x4B, 1, 0x4E, 0x62, 0x2E]) { _ in () } })
    }

    func testPython2OrderedDictReduceWithListOfPairs() throws {
        // Python 2's OrderedDict.__reduce__ gives (OrderedDict, ([[k, v], ...],)): PROTO 2, GLOBAL, EMPTY_LIST,
        // MARK, EMPTY_LIST, MARK, SHORT_BINSTRING 'a', BININT1 7, APPENDS, APPENDS, TUPLE1, REDUCE, STOP.
        let bytes: [UInt8] = [0x80, 0x02] + global("collections", "OrderedDict")
            + [0x5D, 0x28, 0x5D, 0x28, 0x55, 0x01, 0x61, 0x4B, 0x07, 0x65, 0x65, 0x85, 0x52, 0x2E]
        let value = try unpickle(bytes) { value -> Int? in
            guard case let .dict(dict) = value else { return nil }
            return dict["a"]?.asInt
        }
        XCTAssertEqual(value, 7)
    }

    func testDeclaredLengthsBeyondTheFileAreNotAllocated() {
        let huge: [[UInt8]] = [
            [0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x41],                      // BINUNICODE of 4 GiB
            [0x8D] + [UInt8](repeating: 0xFF, count: 7) + [0x7F, 0x41],  // BINUNICODE8 of 2^63
            [0x42, 0xFF, 0xFF, 0xFF, 0x7F],                            // BINBYTES of 2 GiB
            [0x54, 0xFF, 0xFF, 0xFF, 0xFF],                            // BINSTRING of length -1
            [0x8B, 0x00, 0x00, 0x00, 0x40],                            // LONG4 of 1 GiB
            [0x55, 0x10, 0x41],                                        // SHORT_BINSTRING of 16, 1 byte left
        ]
        for (i, bytes) in huge.enumerated() {
            switch checkpointError({ try unpickle(bytes) { _ in () } }) {
            case .truncated?, .malformedPickle?: break
            default: XCTFail("case \(i) not refused")
            }
        }
    }

    func testDeepNestingAndCyclesAreFreedWithoutRecursion() throws {
        // 150k EMPTY_LISTs then 149,999 APPENDs: a list nested 150k deep (a recursive free of that depth
        // overflows an 8 MB stack). Freed without recursion.
        let depth = 150_000
        let nested = [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]
        let outer = try unpickle(nested) { $0.sequenceItems?.count }
        XCTAssertEqual(outer, 1)
        // Tuples nested by TUPLE1: EMPTY_TUPLE, then TUPLE1 150k times.
        let tuples = [0x29] + [UInt8](repeating: 0x85, count: depth) + [0x2E]
        XCTAssertEqual(try unpickle(tuples) { $0.sequenceItems?.count }, 1)
        // A list that contains itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP.
        XCTAssertEqual(try unpickle([0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]) { $0.sequenceItems?.count }, 1)
    }

    func testTruncatedLegacyFileNamesFileAndOffset() throws {
        let url = try Fixtures.url("truncated_legacy.pth")
        let error = checkpointError { _ = try Checkpoint.load(url) }
        guard case let .truncated(file, offset, needed)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(file, url.path)
        XCTAssertGreaterThan(offset, 2000)
        XCTAssertTrue(needed.contains("storage"), needed)
    }

    func testPrefixesOfALegacyFileAreRefusedCleanly() throws {
        let data = try Data(contentsOf: Fixtures.url("small_legacy.pth"))
        // Every prefix through the pickles (the first ~2 kB), then every 7th through the storages.
        for length in Array(0..<2100) + Array(stride(from: 2100, to: data.count, by: 7)) {
            XCTAssertNotNil(checkpointError { _ = try PyTorchLegacyReader.read(data: data.prefix(length), file: "prefix") },
                            "prefix \(length)")
        }
    }

    func testSingleByteCorruptionsNeverCrash() throws {
        let data = try Data(contentsOf: Fixtures.url("small_legacy.pth"))
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        var refused = 0
        for _ in 0..<800 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407  // 64-bit LCG: reproducible positions
            var corrupt = data
            let position = Int((seed >> 33) % UInt64(data.count))
            corrupt[position] ^= UInt8(truncatingIfNeeded: (seed >> 20) | 1)
            do {
                _ = try PyTorchLegacyReader.read(data: corrupt, file: "corrupt")
            } catch is CheckpointError {
                refused += 1
            }
        }
        // Flips inside raw float data load fine; flips in the pickles must mostly be caught.
        XCTAssertGreaterThan(refused, 200)
    }

    func testStorageCountLargerThanTheFileIsAnErrorNotAnAllocation() throws {
        var data = try Data(contentsOf: Fixtures.url("small_legacy.pth"))
        // The last storage is 'scalar' (one float32): its int64 count sits 12 bytes before the end.
        let countAt = data.count - 12
        XCTAssertEqual(data[countAt], 1)
        data.replaceSubrange(countAt..<(countAt + 8), with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        switch checkpointError({ _ = try PyTorchLegacyReader.read(data: data, file: "huge") }) {
        case .truncated?, .malformedContainer?: break
        case let other: XCTFail("got \(String(describing: other))")
        }
    }

    func testInconsistentZipArchivesAreRefused() throws {
        let missing = checkpointError { _ = try Checkpoint.load(Fixtures.url("zip_missing_storage.pth")) }
        XCTAssertTrue(missing?.description.contains("missing storage entry 'archive/data/0'") ?? false,
                      String(describing: missing))
        // conv.weight: 108 float32 = 432 bytes declared, 428 stored.
        let short = checkpointError { _ = try Checkpoint.load(Fixtures.url("zip_short_storage.pth")) }
        XCTAssertTrue(short?.description.contains("holds 428 bytes, 108 float32 elements declared") ?? false,
                      String(describing: short))
        // PyTorch itself does not check the CRC; a flipped bit in weights is worth refusing.
        let crc = checkpointError { _ = try Checkpoint.load(Fixtures.url("zip_bad_crc.pth")) }
        XCTAssertTrue(crc?.description.contains("fails its CRC-32 check") ?? false, String(describing: crc))
    }

    func testWrongMagicIsUnknownFormat() throws {
        for name in ["wrong_magic.pth", "wrong_magic_number.pth"] {
            let url = try Fixtures.url(name)
            guard case let .unknownFormat(file, firstBytes)? = checkpointError({ _ = try Checkpoint.load(url) }) else {
                return XCTFail(name)
            }
            XCTAssertEqual(file, url.path)
            XCTAssertFalse(firstBytes.isEmpty)
        }
        let missing = Fixtures.temporary("does-not-exist.pth")
        guard case .unreadable? = checkpointError({ _ = try Checkpoint.load(missing) }) else { return XCTFail("missing file") }
    }

    func testViewsOutsideTheirStorageAreRefused() {
        let storage = StorageRef(key: "0", dtype: .float32, numel: 6, elementOffset: 0, count: 6)
        let bytes = Data(count: 24)
        func attempt(_ offset: Int, _ shape: [Int], _ stride: [Int]) -> CheckpointError? {
            checkpointError {
                _ = try TensorView.materialize(TensorRef(storage: storage, offset: offset, shape: shape, stride: stride),
                                               storage: bytes, file: "f", key: "w")
            }
        }
        // offset 2 + (2-1)*3 + (3-1)*1 = 7 >= 6 elements.
        XCTAssertNotNil(attempt(2, [2, 3], [3, 1]))
        XCTAssertNotNil(attempt(0, [2, 3], [-3, 1]))
        XCTAssertNotNil(attempt(0, [2, 3], [3]))
        XCTAssertNotNil(attempt(0, [Int.max, 2], [Int.max, 1]))
        XCTAssertNotNil(attempt(-1, [1], [1]))
        // The largest legal view: offset 0 + (2-1)*3 + (3-1)*1 = 5, the last element.
        XCTAssertNoThrow(try TensorView.materialize(TensorRef(storage: storage, offset: 0, shape: [2, 3], stride: [3, 1]),
                                                   storage: bytes, file: "f", key: "w"))
    }
}
