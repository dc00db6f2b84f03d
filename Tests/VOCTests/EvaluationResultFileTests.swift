import Foundation
import XCTest
@testable import Imaging
@testable import Evaluation
@testable import VOC

final class EvaluationResultFileTests: XCTestCase {
    let ids = ["000001", "000002"]
    func index(_ id: String) -> Int? { ids.firstIndex(of: id) }

    func testParsesLinesWithSpacesTabsAndCRLF() throws {
        let text = "000002 0.9 1 2 3 4\r\n\n000001\t0.25  10.5 20 30.75 40\n"
        let boxes = try ResultFiles.parse(Data(text.utf8), file: "f.txt", imageIndex: index)
        XCTAssertEqual(boxes, [det(1, 0.9, 1, 2, 3, 4), det(0, 0.25, 10.5, 20, 30.75, 40)])
    }

    func testEmptyFileHasNoDetections() throws {
        XCTAssertEqual(try ResultFiles.parse(Data(), file: "f.txt", imageIndex: index), [])
        XCTAssertEqual(try ResultFiles.parse(Data("\n\n".utf8), file: "f.txt", imageIndex: index), [])
    }

    func testMissingFileIsNilNotAnError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-missing-\(UUID().uuidString).txt")
        XCTAssertNil(try ResultFiles.read(url, imageIndex: index))
    }

    func assertError(_ text: String, line: Int, contains fragment: String, file: StaticString = #filePath,
                     lineNumber: UInt = #line) {
        XCTAssertThrowsError(try ResultFiles.parse(Data(text.utf8), file: "comp4_det_test_cat.txt",
                                                   imageIndex: index), file: file, line: lineNumber) { error in
            guard let e = error as? ResultFileError else { return XCTFail("wrong error \(error)", file: file, line: lineNumber) }
            XCTAssertEqual(e.file, "comp4_det_test_cat.txt", file: file, line: lineNumber)
            XCTAssertEqual(e.line, line, file: file, line: lineNumber)
            XCTAssertTrue(e.description.hasPrefix("comp4_det_test_cat.txt:\(line): "), e.description, file: file, line: lineNumber)
            XCTAssertTrue(e.description.contains(fragment), e.description, file: file, line: lineNumber)
        }
    }

    func testBadLinesNameFileAndLine() {
        assertError("000001 0.5 1 2 3 4\n000001 0.5 1 2 3\n", line: 2, contains: "found 5")
        assertError("000001 0.5 1 2 3 4 5\n", line: 1, contains: "found 7")
        assertError("000001 high 1 2 3 4\n", line: 1, contains: "score 'high'")
        assertError("\n000001 0.5 1 2 x3 4\n", line: 2, contains: "x2 'x3'")
        assertError("000001 nan 1 2 3 4\n", line: 1, contains: "score 'nan' is not a finite number")
        assertError("000001 0.5 1 2 3 4\n000009 0.5 1 2 3 4\n", line: 2, contains: "image id '000009' is not in")
    }

    /// The writer adds 1 in float32 (0-based -> 1-based) and prints the shortest round-tripping text:
    /// 0.1 + 1 in float32 = 1.1 (prints "1.1"), 9.5 + 1 = 10.5; reading it back gives the float value exactly.
    func testWriterAddsOneAndRoundTrips() throws {
        let d = Detection(classIndex: 1, score: 0.123456789, x1: 0.1, y1: 0, x2: 9.5, y2: 299.99)
        let line = ResultFiles.line(imageID: "000001", detection: d)
        XCTAssertEqual(line, "000001 0.12345679 1.1 1.0 10.5 300.99\n")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-rf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try ResultFiles.write([(id: "000002", detections: [d]), (id: "000001", detections: [d])],
                              classNames: ["cat", "dog"], split: "test", to: folder)
        let cat = try XCTUnwrap(ResultFiles.read(folder.appendingPathComponent("comp4_det_test_cat.txt"),
                                                 imageIndex: index))
        XCTAssertEqual(cat, [])
        let dog = try XCTUnwrap(ResultFiles.read(folder.appendingPathComponent("comp4_det_test_dog.txt"),
                                                 imageIndex: index))
        XCTAssertEqual(dog.map(\.imageIndex), [1, 0])
        XCTAssertEqual(Float(dog[0].score), d.score)
        XCTAssertEqual(Float(dog[0].x1), d.x1 + 1)
        XCTAssertEqual(Float(dog[0].y2), d.y2 + 1)
    }
}

extension EvaluationResultFileTests {
    /// The fast decimal path agrees bit for bit with `Double(String)` (strtod) on 20k random tokens of the
    /// shapes result files hold, and declines what it cannot do exactly.
    func testFastDecimalPathMatchesStrtod() {
        var rng = SystemRandomNumberGenerator()
        func fast(_ s: String) -> Double? {
            let bytes = Array(s.utf8)
            return bytes.withUnsafeBufferPointer { ResultFiles.fastDecimal($0) }
        }
        for _ in 0..<20_000 {
            let digits = Int.random(in: 1...17, using: &rng)
            var text = (0..<digits).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
            if Bool.random(using: &rng) {
                let dot = Int.random(in: 0...digits, using: &rng)
                text.insert(".", at: text.index(text.startIndex, offsetBy: dot))
            }
            if Int.random(in: 0..<4, using: &rng) == 0 { text = "-" + text }
            guard let want = Double(text) else { continue }
            if let got = fast(text) {
                XCTAssertEqual(got.bitPattern, want.bitPattern, text)
            }
        }
        XCTAssertEqual(fast("0.1"), 0.1)
        XCTAssertEqual(fast("-12.375"), -12.375)
        XCTAssertEqual(fast("300.99"), 300.99)
        XCTAssertEqual(fast("0.30000000000000004"), nil)  // 17 significant digits: strtod's job
        for declined in ["1e5", "nan", "inf", "", "-", ".", "1.2.3", "0x10", "12a"] { XCTAssertNil(fast(declined), declined) }
    }
}
