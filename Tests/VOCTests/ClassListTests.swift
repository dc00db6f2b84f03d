import XCTest
@testable import VOC

final class ClassListTests: XCTestCase {
    private func write(_ text: String, _ name: String = "classes.txt") throws -> URL {
        let url = try Fixtures.temporaryFolder(self).appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testVOCDefaultOrder() {
        XCTAssertEqual(ClassList.voc.count, 20)
        XCTAssertEqual(ClassList.voc[0], "aeroplane")
        XCTAssertEqual(ClassList.voc.index(of: "dog"), 11)
        XCTAssertEqual(ClassList.voc.index(of: "person"), 14)
        XCTAssertEqual(ClassList.voc[19], "tvmonitor")
        XCTAssertNil(ClassList.voc.index(of: "background"))
        XCTAssertNil(ClassList.voc.file)
    }

    func testFileWithCommentsBlanksAndCRLF() throws {
        let url = try write("# my classes\r\n\r\n  helmet \r\nvest\n\n# trailing comment\nperson\n")
        let list = try ClassList(contentsOf: url)
        XCTAssertEqual(list.names, ["helmet", "vest", "person"])
        XCTAssertEqual(list.file, url.path)
        XCTAssertEqual(list.index(of: "person"), 2)
    }

    /// qfgaohao/pytorch-ssd's labels.txt is comma-separated; its model-labels files start with BACKGROUND.
    func testCommaSeparatedAndLeadingBackground() throws {
        XCTAssertEqual(try ClassList(contentsOf: write("car, truck,bus\n")).names, ["car", "truck", "bus"])
        XCTAssertEqual(try ClassList(contentsOf: write("BACKGROUND\naeroplane\nbicycle\n")).names,
                       ["aeroplane", "bicycle"])
    }

    func testDuplicateNamesBothLines() throws {
        let url = try write("cat\ndog\n\n# x\ncat\n")
        XCTAssertThrowsError(try ClassList(contentsOf: url)) { error in
            XCTAssertEqual((error as? ClassListError)?.description,
                           "\(url.path):5: duplicate class 'cat' (first on line 1)")
        }
    }

    func testEmptyAndMissingFiles() throws {
        let empty = try write("# nothing\n\n")
        XCTAssertThrowsError(try ClassList(contentsOf: empty)) { error in
            XCTAssertEqual((error as? ClassListError)?.problem, "no class names in the file")
        }
        XCTAssertThrowsError(try ClassList(contentsOf: write("a,,b\n"))) { error in
            XCTAssertEqual((error as? ClassListError)?.line, 1)
        }
        let missing = URL(fileURLWithPath: "/nonexistent/classes.txt")
        XCTAssertThrowsError(try ClassList(contentsOf: missing)) { error in
            XCTAssertEqual((error as? ClassListError)?.description,
                           "/nonexistent/classes.txt: class list file does not exist")
        }
    }

    func testNamesInCode() throws {
        XCTAssertEqual(try ClassList(names: ["a", "b"]).count, 2)
        XCTAssertThrowsError(try ClassList(names: ["a", "a"]))
        XCTAssertThrowsError(try ClassList(names: []))
    }

    func testForDatasetPrefersExplicitThenLabelsTxtThenVOC() throws {
        let root = try Fixtures.temporaryFolder(self)
        XCTAssertEqual(try ClassList.forDataset(root: root), .voc)
        try Data("helmet\nvest\n".utf8).write(to: root.appendingPathComponent("labels.txt"))
        XCTAssertEqual(try ClassList.forDataset(root: root).names, ["helmet", "vest"])
        let explicit = try write("boat\n", "explicit.txt")
        XCTAssertEqual(try ClassList.forDataset(root: root, explicit: explicit).names, ["boat"])
    }
}
