import XCTest
@testable import VOC

final class DatasetCheckerTests: XCTestCase {
    func testVOC2007SampleIsClean() throws {
        let dataset = try VOCDataset(root: Fixtures.voc2007(), split: "test")
        XCTAssertEqual(DatasetChecker.check(dataset, threads: 2), [])
    }

    /// The VOC2012 sample's 2007_000027.jpg is truncated (8,192 bytes, no end-of-image marker).
    func testVOC2012TruncatedJPEGIsNamed() throws {
        let root = try Fixtures.voc2012()
        let dataset = try VOCDataset(root: root, split: "trainval")
        let problems = DatasetChecker.check(dataset, threads: 2)
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(problems.first?.file, root.path + "/JPEGImages/2007_000027.jpg")
        XCTAssertTrue(problems.first?.problem.contains("truncated") ?? false)
    }

    /// One dataset with every kind of problem; each is listed, in split order, none stops the check.
    func testEveryProblemIsListed() throws {
        let root = try Fixtures.temporaryFolder(self)
        let manager = FileManager.default
        for folder in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let voc = try Fixtures.voc2007()
        func copy(_ from: String, _ to: String) throws {
            try manager.copyItem(at: voc.appendingPathComponent(from), to: root.appendingPathComponent(to))
        }
        // a: fine. b: annotation 353x500 but the image is 000002.jpg (335x500). c: no image.
        // d: a unicorn whose box runs past the 353-pixel width, and a truncated image. e: no annotation.
        try copy("Annotations/000001.xml", "Annotations/a.xml")
        try copy("JPEGImages/000001.jpg", "JPEGImages/a.jpg")
        try copy("Annotations/000001.xml", "Annotations/b.xml")
        try copy("JPEGImages/000002.jpg", "JPEGImages/b.jpg")
        try copy("Annotations/000001.xml", "Annotations/c.xml")
        let d = try String(contentsOf: voc.appendingPathComponent("Annotations/000001.xml"), encoding: .utf8)
            .replacingOccurrences(of: "<name>dog</name>", with: "<name>unicorn</name>")
            .replacingOccurrences(of: "<xmax>352</xmax>", with: "<xmax>354</xmax>")
        try Data(d.utf8).write(to: root.appendingPathComponent("Annotations/d.xml"))
        try manager.copyItem(at: Fixtures.root().appendingPathComponent("voc-samples/corrupt/000001_truncated.jpg"),
                             to: root.appendingPathComponent("JPEGImages/d.jpg"))
        try copy("JPEGImages/000003.jpg", "JPEGImages/e.jpg")
        try Data("a\nb\nc\nd\ne\n".utf8).write(to: root.appendingPathComponent("ImageSets/Main/all.txt"))

        let dataset = try VOCDataset(root: root, split: "all")
        let one = DatasetChecker.check(dataset, threads: 1)
        XCTAssertEqual(DatasetChecker.check(dataset, threads: 3), one, "same list whatever the thread count")
        let summary = one.map { "\(URL(fileURLWithPath: $0.file).lastPathComponent): \($0.problem.prefix(30))" }
        XCTAssertEqual(summary, [
            "b.xml: <size> says 353x500 but the im",
            "c.jpg: image file does not exist",
            "d.xml: <object> 1 (unicorn): unknown ",
            "d.xml: <object> 2 (person): box (xmin",
            "d.jpg: truncated or damaged JPEG (lib",
            "e.xml: annotation file does not exist",
        ])
        XCTAssertEqual(one[3].problem, "<object> 2 (person): box (xmin 8, ymin 12, xmax 354, ymax 498) is outside "
            + "the 353x500 image (VOC boxes are 1-based: 1...width, 1...height)")
        XCTAssertEqual(one[0].problem, "<size> says 353x500 but the image b.jpg decodes to 335x500; "
            + "boxes would be in the wrong frame")
    }
}
