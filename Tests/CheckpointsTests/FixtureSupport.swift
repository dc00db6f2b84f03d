import Foundation
import XCTest
@testable import Checkpoints

/// Expected values written by `Scripts/gen_checkpoint_fixtures.py` (every element of every tensor).
struct ExpectedTensor: Decodable {
    let key: String
    let dtype: String
    let shape: [Int]
    let values: [Double]
    let bits: [UInt16]?
}

struct ExpectedFixtures: Decodable {
    let small: [ExpectedTensor]
    let safetensors: [ExpectedTensor]
    let safetensors_metadata: [String: String]
    let wrapped_metadata: [String: [String: String]]
    let old_style: [String: [Float]]
}

enum Fixtures {
    static func url(_ name: String) throws -> URL {
        let folder = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return folder.appendingPathComponent(name)
    }

    static func expected() throws -> ExpectedFixtures {
        try JSONDecoder().decode(ExpectedFixtures.self, from: Data(contentsOf: url("expected.json")))
    }

    /// A scratch file path unique to the test process.
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("mpq-checkpoints-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
    }
}

/// Asserts that `dict` holds exactly the expected tensors, in order, with every value equal.
func assertMatches(_ dict: StateDict, _ expected: [ExpectedTensor], file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(dict.keys, expected.map(\.key), file: file, line: line)
    for e in expected {
        let t = try XCTUnwrap(dict[e.key], "missing \(e.key)", file: file, line: line)
        XCTAssertEqual(t.dtype.rawValue, e.dtype, e.key, file: file, line: line)
        XCTAssertEqual(t.shape, e.shape, e.key, file: file, line: line)
        XCTAssertEqual(t.count, e.values.count, e.key, file: file, line: line)
        XCTAssertEqual(t.byteCount, e.values.count * t.dtype.byteSize, e.key, file: file, line: line)
        // Every value: float32/16/bf16 values are exact in Float; float64 and wide ints round the same way.
        XCTAssertEqual(try t.floats(), e.values.map { Float($0) }, e.key, file: file, line: line)
        switch t.dtype {
        case .int64, .int32, .int8, .uint8, .bool:
            XCTAssertEqual(try t.int64s(), e.values.map { Int64($0) }, e.key, file: file, line: line)
        case .float64:
            let doubles = t.data.withUnsafeBytes { raw in (0..<t.count).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) } }
            XCTAssertEqual(doubles, e.values, e.key, file: file, line: line)
        case .float16, .bfloat16:
            let bits = t.data.withUnsafeBytes { raw in (0..<t.count).map { raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) } }
            XCTAssertEqual(bits, e.bits, e.key, file: file, line: line)
        case .float32:
            break
        }
    }
}

/// Runs `body` and returns the `CheckpointError` it throws (failing the test if it throws nothing else).
func checkpointError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
    do {
        try body()
        XCTFail("expected a CheckpointError, got success", file: file, line: line)
    } catch let error as CheckpointError {
        return error
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
    }
    return nil
}
