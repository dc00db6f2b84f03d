import Foundation
import XCTest
@testable import Checkpoints

/// Checkpoints the fuzzer (`Scripts/fuzz.sh pickle|safetensors|quantized`, docs/fuzzing.md) found crashing, kept in
/// `Fixtures/fuzz/`: each must now be refused with a clean error naming the file.
final class FuzzFindingsTests: XCTestCase {
    /// A zip `.pth` whose `archive/data.pkl` local header claims a deflated entry of enormous size: the reader
    /// passed the declared size to `Data.reserveCapacity`, which trapped (a crash, not an error). Now the stored
    /// size must fit in the archive, only 64 MiB are reserved up front, and inflating past the declared size stops.
    func testZipEntryWithAHugeDeclaredSizeIsRefused() throws {
        let url = try Fixtures.url("fuzz/zip-huge-declared-size.pth")
        XCTAssertThrowsError(try Checkpoint.load(url)) { error in
            guard let error = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertTrue(error.description.hasPrefix(url.path), error.description)
            XCTAssertFalse(error.description.contains("\n"), error.description)
        }
    }

    /// A central-directory record whose ZIP64 local-header offset is past `Int64.max`: ZIPFoundation converted it
    /// to `off_t` and trapped ("Not enough bits to represent the passed value"). The reader now walks the central
    /// directory itself first and refuses offsets and sizes the file cannot hold.
    func testZip64OffsetPastTheFileIsRefused() throws {
        let url = try Fixtures.url("fuzz/zip64-offset-past-int64.pth")
        XCTAssertThrowsError(try Checkpoint.load(url)) { error in
            guard let error = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertTrue(error.description.hasPrefix(url.path), error.description)
            XCTAssertTrue(error.description.contains("zip archive: "), error.description)
        }
    }
}
