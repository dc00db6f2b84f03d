import XCTest
@testable import VOC

final class VOCDatasetTests: XCTestCase {
    /// A dataset in a temporary folder with the given split file and copies of real VOC2007 annotations.
    private func makeDataset(split: String, ids: [String], labels: String? = nil) throws -> URL {
        let root = try Fixtures.temporaryFolder(self)
        let manager = FileManager.default
        for folder in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let source = try Fixtures.voc2007()
        for id in ids {
            try manager.copyItem(at: source.appendingPathComponent("Annotations/\(id).xml"),
                                 to: root.appendingPathComponent("Annotations/\(id).xml"))
        }
        try Data(split.utf8).write(to: root.appendingPathComponent("ImageSets/Main/mine.txt"))
        if let labels { try Data(labels.utf8).write(to: root.appendingPathComponent("labels.txt")) }
        return root
    }

    func testRealSplitAndPaths() throws {
        let root = try Fixtures.voc2007()
        let dataset = try VOCDataset(root: root, split: "test")
        XCTAssertEqual(dataset.imageIDs, ["000001", "000002", "000003", "000004", "000005"])
        XCTAssertEqual(dataset.classes, .voc)
        XCTAssertEqual(dataset.annotationURL("000003").path, root.path + "/Annotations/000003.xml")
        XCTAssertEqual(dataset.imageURL("000003").path, root.path + "/JPEGImages/000003.jpg")
        XCTAssertEqual(try dataset.annotation(for: "000003").objects.map(\.name), ["sofa", "chair"])
    }

    /// Split order is kept (not sorted), blank lines and CRLF are ignored, a second column is ignored.
    func testSplitOrderIsFileOrderWhateverTheThreadCount() throws {
        let root = try makeDataset(split: "000005\r\n\n000001  1\n000003\n\n", ids: ["000001", "000003", "000005"])
        let dataset = try VOCDataset(root: root, split: "mine")
        XCTAssertEqual(dataset.imageIDs, ["000005", "000001", "000003"])
        for threads in [1, 2, 3, 8] {
            let annotations = try dataset.loadAnnotations(threads: threads)
            XCTAssertEqual(annotations.map(\.filename), ["000005.jpg", "000001.jpg", "000003.jpg"], "\(threads)")
        }
    }

    func testLabelsTxtIsUsedAndUnknownClassesReported() throws {
        let root = try makeDataset(split: "000001\n000002\n", ids: ["000001", "000002"], labels: "dog\nperson\n")
        let dataset = try VOCDataset(root: root, split: "mine")
        XCTAssertEqual(dataset.classes.names, ["dog", "person"])
        XCTAssertEqual(try dataset.annotation(for: "000001").objects.count, 2)
        // 000002 holds a train, not in labels.txt.
        XCTAssertThrowsError(try dataset.loadAnnotations(threads: 2)) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .unknownClass)
            XCTAssertEqual((error as? AnnotationError)?.file, root.path + "/Annotations/000002.xml")
        }
        XCTAssertEqual(try dataset.loadAnnotations(threads: 2, checkClasses: false).count, 2)
    }

    /// The first error in split order is thrown, and the collecting variant keeps every result.
    func testFirstErrorInSplitOrderAndCollectedResults() throws {
        let root = try makeDataset(split: "000001\nmissing-a\n000003\nmissing-b\n", ids: ["000001", "000003"])
        let dataset = try VOCDataset(root: root, split: "mine")
        for threads in [1, 4] {
            XCTAssertThrowsError(try dataset.loadAnnotations(threads: threads)) { error in
                XCTAssertEqual((error as? AnnotationError)?.file, root.path + "/Annotations/missing-a.xml")
            }
            let results = dataset.loadAnnotationResults(threads: threads)
            XCTAssertEqual(results.map { (try? $0.get())?.filename }, ["000001.jpg", nil, "000003.jpg", nil])
        }
    }

    func testMissingSplitListsExistingSplits() throws {
        let root = try Fixtures.voc2007()
        XCTAssertThrowsError(try VOCDataset(root: root, split: "val")) { error in
            XCTAssertEqual((error as? DatasetError)?.description, root.path
                + "/ImageSets/Main/val.txt: split 'val' not found; splits present: test, trainval")
        }
        XCTAssertThrowsError(try VOCDataset(root: root.appendingPathComponent("nope"), split: "test")) { error in
            XCTAssertEqual((error as? DatasetError)?.problem, "dataset root does not exist or is not a folder")
        }
    }

    func testDuplicateAndEmptySplitFiles() throws {
        let duplicate = try makeDataset(split: "000001\n000002\n000001\n", ids: [])
        XCTAssertThrowsError(try VOCDataset(root: duplicate, split: "mine")) { error in
            XCTAssertEqual((error as? DatasetError)?.line, 3)
        }
        let empty = try makeDataset(split: "\n\n", ids: [])
        XCTAssertThrowsError(try VOCDataset(root: empty, split: "mine")) { error in
            XCTAssertEqual((error as? DatasetError)?.problem, "the split file lists no image ids")
        }
    }
}

extension VOCDatasetTests {
    /// 000005: five chairs (VOC index 8), the 3rd and 5th difficult; 000004: seven cars (index 6).
    func testGroundTruthFromDataset() throws {
        let truth = try VOCDataset(root: Fixtures.voc2007(), split: "test").groundTruth(threads: 2)
        XCTAssertEqual(truth.imageIDs, ["000001", "000002", "000003", "000004", "000005"])
        XCTAssertEqual(truth.objects[4].map(\.classIndex), [8, 8, 8, 8, 8])
        XCTAssertEqual(truth.objects[4].map(\.difficult), [false, false, true, false, true])
        XCTAssertEqual(truth.objects[3].map(\.classIndex), Array(repeating: 6, count: 7))
        XCTAssertEqual(truth.objects[0].map(\.box), [PixelBox(xmin: 48, ymin: 240, xmax: 195, ymax: 371),
                                                     PixelBox(xmin: 8, ymin: 12, xmax: 352, ymax: 498)])
    }
}
