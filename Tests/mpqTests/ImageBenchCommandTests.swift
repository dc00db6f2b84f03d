import Foundation
import XCTest

/// `mpq image-bench` as a subprocess: its JSON on the real VOC samples, and clean failures on bad input.
final class ImageBenchCommandTests: XCTestCase {
    /// The five VOC2007 sample JPEGs, one timed run at 1 and at 2 threads: the checksum of the resized pixels (sum
    /// of all bytes of one pass) does not depend on the thread count.
    func testJSONAndChecksumAcrossThreads() throws {
        let folder = RepositoryFixtures.voc2007.appendingPathComponent("JPEGImages").path
        var checksums: [UInt64] = []
        for threads in ["1", "2"] {
            let run = try runMPQ(["image-bench", "--images", folder, "--threads", threads, "--size", "64",
                                  "--runs", "1", "--json", "-"])
            XCTAssertExit(run, 0)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(json["images"] as? Int, 5)
            XCTAssertEqual(json["size"] as? Int, 64)
            XCTAssertEqual((json["imagesPerSecond"] as? [Double])?.count, 1)
            XCTAssertGreaterThan(json["best"] as? Double ?? 0, 0)
            checksums.append(try XCTUnwrap((json["checksum"] as? NSNumber)?.uint64Value))
        }
        XCTAssertEqual(checksums[0], checksums[1])
        XCTAssertGreaterThan(checksums[0], 0)
    }

    /// A folder holding a truncated JPEG fails with the file named, exit status 1, no crash.
    func testTruncatedImageFailsCleanly() throws {
        let run = try runMPQ(["image-bench", "--images", RepositoryFixtures.vocSamples.appendingPathComponent("corrupt").path,
                              "--runs", "1"])
        XCTAssertExit(run, 1)
        XCTAssertTrue(run.stderr.contains("_truncated.jpg: truncated or damaged JPEG"), run.stderr)
    }

    /// Bad options and folders are usage errors (exit status 64), not crashes.
    func testBadInput() throws {
        let missing = try runMPQ(["image-bench", "--images", "/nonexistent-folder"])
        XCTAssertExit(missing, 64)
        XCTAssertTrue(missing.stderr.contains("/nonexistent-folder"), missing.stderr)
        let empty = try runMPQ(["image-bench", "--images", RepositoryFixtures.voc2007.appendingPathComponent("Annotations").path])
        XCTAssertExit(empty, 64)
        XCTAssertTrue(empty.stderr.contains("no .jpg or .jpeg files"), empty.stderr)
        XCTAssertExit(try runMPQ(["image-bench", "--images", "x", "--threads", "0"]), 64)
        let help = try runMPQ(["image-bench", "--help"])
        XCTAssertExit(help, 0)
        XCTAssertTrue(help.stdout.contains("Examples:"), help.stdout)
    }
}
