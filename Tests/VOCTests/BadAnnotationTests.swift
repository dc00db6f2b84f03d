import XCTest
@testable import VOC

/// Hand-made broken annotation files (Fixtures/bad-xml/README.md): each gives one clear `AnnotationError`
/// naming the file, the line where known, and the problem.
final class BadAnnotationTests: XCTestCase {
    private func error(_ name: String, classes: ClassList? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws -> AnnotationError {
        let url = try Fixtures.badXML(name)
        do {
            let parsed = try AnnotationParser.parse(fileAt: url, classes: classes)
            XCTFail("\(name) parsed: \(parsed)", file: file, line: line)
            throw XCTSkip("no error to inspect")
        } catch let error as AnnotationError {
            XCTAssertEqual(error.file, url.path, "the error names the file", file: file, line: line)
            XCTAssertEqual(error.description, error.errorDescription)
            XCTAssertTrue(error.description.hasPrefix(url.path), error.description, file: file, line: line)
            return error
        }
    }

    func testEmptyFile() throws {
        let error = try error("empty.xml")
        XCTAssertEqual(error.kind, .empty)
        XCTAssertTrue(error.problem.contains("empty file"), error.problem)
        XCTAssertEqual(try self.error("whitespace-only.xml").kind, .empty)
    }

    func testUnclosedTagNamesLibxml2Line() throws {
        let error = try error("unclosed-tag.xml")
        XCTAssertEqual(error.kind, .malformedXML)
        // <xmin> opens on line 13; libxml2 notices at </bndbox> on line 17.
        XCTAssertEqual(error.line, 17)
        XCTAssertTrue(error.problem.contains("xmin"), error.problem)
        XCTAssertTrue(error.description.contains("unclosed-tag.xml:17: malformed XML"), error.description)
    }

    func testTruncatedFile() throws {
        let error = try error("truncated.xml")
        XCTAssertEqual(error.kind, .malformedXML)
        XCTAssertNotNil(error.line)
    }

    func testMissingBndbox() throws {
        let error = try error("missing-bndbox.xml")
        XCTAssertEqual(error.kind, .missingElement)
        XCTAssertEqual(error.line, 22)  // the second <object> opens on line 22
        XCTAssertEqual(error.problem, "<object> 2 (person) has no <bndbox>")
    }

    func testLettersInCoordinate() throws {
        let error = try error("letters-in-coordinate.xml")
        XCTAssertEqual(error.kind, .invalidNumber)
        XCTAssertEqual(error.line, 16)
        XCTAssertEqual(error.problem, "<bndbox> of <object> 1 (dog): <xmin> is '4a8', expected a number")
    }

    func testEmptyCoordinate() throws {
        let error = try error("empty-coordinate.xml")
        XCTAssertEqual(error.kind, .missingElement)
        XCTAssertEqual(error.line, 16)
    }

    func testXminGreaterThanXmax() throws {
        let error = try error("xmin-greater-than-xmax.xml")
        XCTAssertEqual(error.kind, .invalidBox)
        XCTAssertEqual(error.line, 15)
        XCTAssertEqual(error.problem, "<bndbox> of <object> 1 (dog): xmin 250 > xmax 195")
    }

    func testBadFlag() throws {
        let error = try error("bad-flag.xml")
        XCTAssertEqual(error.kind, .invalidNumber)
        XCTAssertEqual(error.line, 14)
        XCTAssertTrue(error.problem.contains("<difficult> is 'yes', expected 0 or 1"), error.problem)
    }

    func testUnknownClassWithAClassList() throws {
        let error = try error("unknown-class.xml", classes: .voc)
        XCTAssertEqual(error.kind, .unknownClass)
        XCTAssertEqual(error.line, 11)
        XCTAssertEqual(error.problem, "<object> 1 has unknown class 'unicorn' (not in the 20 VOC classes)")
    }

    func testTooLargeIsRefusedBeforeParsing() throws {
        let folder = try Fixtures.temporaryFolder(self)
        let url = folder.appendingPathComponent("huge.xml")
        // A valid document padded with a comment to one byte over the cap.
        let head = "<annotation><!--", tail = "--></annotation>"
        let padding = String(repeating: "x", count: AnnotationParser.maximumFileSize + 1 - head.count - tail.count)
        try Data((head + padding + tail).utf8).write(to: url)
        XCTAssertThrowsError(try AnnotationParser.parse(fileAt: url)) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .tooLarge)
        }
    }

    func testMissingFile() throws {
        let url = try Fixtures.badXML("does-not-exist.xml")
        XCTAssertThrowsError(try AnnotationParser.parse(fileAt: url)) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .unreadable)
            XCTAssertEqual((error as? AnnotationError)?.description, "\(url.path): annotation file does not exist")
        }
    }

    func testWrongRootElement() throws {
        XCTAssertThrowsError(try AnnotationParser.parse(Data("<html><body/></html>".utf8), file: "x.xml")) { error in
            XCTAssertEqual((error as? AnnotationError)?.description,
                           "x.xml:1: root element is <html>, expected <annotation>")
        }
    }
}
