import XCTest
@testable import Imaging
@testable import Evaluation
@testable import Parallelism
@testable import VOC

/// Real PASCAL VOC annotation files, checked field by field against their XML text.
final class AnnotationParserTests: XCTestCase {
    private func parse(_ relative: String, in root: URL) throws -> VOCAnnotation {
        try AnnotationParser.parse(fileAt: root.appendingPathComponent(relative))
    }

    func testVOC2007Image000001() throws {
        let annotation = try parse("Annotations/000001.xml", in: Fixtures.voc2007())
        XCTAssertEqual(annotation.folder, "VOC2007")
        XCTAssertEqual(annotation.filename, "000001.jpg")
        XCTAssertEqual(annotation.width, 353)
        XCTAssertEqual(annotation.height, 500)
        XCTAssertEqual(annotation.depth, 3)
        XCTAssertFalse(annotation.segmented)
        XCTAssertEqual(annotation.objects, [
            VOCObject(name: "dog", pose: "Left", truncated: true, difficult: false,
                      box: PixelBox(xmin: 48, ymin: 240, xmax: 195, ymax: 371)),
            VOCObject(name: "person", pose: "Left", truncated: true, difficult: false,
                      box: PixelBox(xmin: 8, ymin: 12, xmax: 352, ymax: 498)),
        ])
    }

    func testVOC2007Image000004HasSevenCars() throws {
        let annotation = try parse("Annotations/000004.xml", in: Fixtures.voc2007())
        XCTAssertEqual(annotation.width, 500)
        XCTAssertEqual(annotation.height, 406)
        XCTAssertEqual(annotation.objects.map(\.name), Array(repeating: "car", count: 7))
        XCTAssertEqual(annotation.objects.map(\.box), [
            PixelBox(xmin: 13, ymin: 311, xmax: 84, ymax: 362),
            PixelBox(xmin: 362, ymin: 330, xmax: 500, ymax: 389),
            PixelBox(xmin: 235, ymin: 328, xmax: 334, ymax: 375),
            PixelBox(xmin: 175, ymin: 327, xmax: 252, ymax: 364),
            PixelBox(xmin: 139, ymin: 320, xmax: 189, ymax: 359),
            PixelBox(xmin: 108, ymin: 325, xmax: 150, ymax: 353),
            PixelBox(xmin: 84, ymin: 323, xmax: 121, ymax: 350),
        ])
        XCTAssertEqual(annotation.objects.map(\.truncated), [false, true, false, false, false, false, false])
        XCTAssertEqual(annotation.objects.map(\.pose), ["Frontal"] + Array(repeating: "Unspecified", count: 6))
        XCTAssertTrue(annotation.objects.allSatisfy { !$0.difficult && !$0.occluded && $0.parts.isEmpty })
    }

    func testVOC2007Image000005DifficultChairs() throws {
        let annotation = try parse("Annotations/000005.xml", in: Fixtures.voc2007())
        XCTAssertEqual(annotation.width, 500)
        XCTAssertEqual(annotation.height, 375)
        XCTAssertEqual(annotation.objects.map(\.name), Array(repeating: "chair", count: 5))
        XCTAssertEqual(annotation.objects.map(\.difficult), [false, false, true, false, true])
        XCTAssertEqual(annotation.objects.map(\.truncated), [false, false, true, false, true])
        XCTAssertEqual(annotation.objects.map(\.pose), ["Rear", "Unspecified", "Unspecified", "Unspecified",
                                                         "Unspecified"])
        XCTAssertEqual(annotation.objects[2].box, PixelBox(xmin: 5, ymin: 244, xmax: 67, ymax: 374))
        XCTAssertEqual(annotation.objects[4].box, PixelBox(xmin: 277, ymin: 186, xmax: 312, ymax: 220))
    }

    func testVOC2012PersonLayoutParts() throws {
        let annotation = try parse("Annotations/2007_000027.xml", in: Fixtures.voc2012())
        XCTAssertEqual(annotation.folder, "VOC2012")
        XCTAssertEqual(annotation.filename, "2007_000027.jpg")
        XCTAssertEqual(annotation.width, 486)
        XCTAssertEqual(annotation.height, 500)
        XCTAssertEqual(annotation.objects.count, 1)
        let person = annotation.objects[0]
        XCTAssertEqual(person.name, "person")
        XCTAssertEqual(person.box, PixelBox(xmin: 174, ymin: 101, xmax: 349, ymax: 351))
        XCTAssertEqual(person.parts, [
            VOCPart(name: "head", box: PixelBox(xmin: 169, ymin: 104, xmax: 209, ymax: 146)),
            VOCPart(name: "hand", box: PixelBox(xmin: 278, ymin: 210, xmax: 297, ymax: 233)),
            VOCPart(name: "foot", box: PixelBox(xmin: 273, ymin: 333, xmax: 297, ymax: 354)),
            VOCPart(name: "foot", box: PixelBox(xmin: 319, ymin: 307, xmax: 340, ymax: 326)),
        ])
    }

    func testVOC2012SegmentedFlag() throws {
        let annotation = try parse("Annotations/2007_000032.xml", in: Fixtures.voc2012())
        XCTAssertTrue(annotation.segmented)
        XCTAssertEqual(annotation.objects.map(\.name), ["aeroplane", "aeroplane", "person", "person"])
        XCTAssertEqual(annotation.objects[3].box, PixelBox(xmin: 26, ymin: 189, xmax: 44, ymax: 238))
    }

    func testEveryRealFileParsesWithTheVOCClassList() throws {
        for root in [try Fixtures.voc2007(), try Fixtures.voc2012()] {
            let folder = root.appendingPathComponent("Annotations")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            XCTAssertEqual(files.count, 5)
            for file in files {
                XCTAssertNoThrow(try AnnotationParser.parse(fileAt: folder.appendingPathComponent(file),
                                                            classes: .voc), file)
            }
        }
    }

    /// 47.5 -> 48 and 273.5 -> 274 (halves away from zero), 240.49 -> 240, 371.0 -> 371.
    func testDecimalCoordinatesRoundHalfAwayFromZero() throws {
        let annotation = try AnnotationParser.parse(fileAt: Fixtures.badXML("decimal-coordinates.xml"))
        XCTAssertEqual(annotation.objects[0].box, PixelBox(xmin: 48, ymin: 240, xmax: 274, ymax: 371))
    }

    func testNumberGrammar() {
        XCTAssertEqual(NumberText.coordinate("12"), 12)
        XCTAssertEqual(NumberText.coordinate("+12"), 12)
        XCTAssertEqual(NumberText.coordinate("0.5"), 1)
        XCTAssertEqual(NumberText.coordinate(".5"), 1)
        XCTAssertEqual(NumberText.coordinate("-0.5"), -1)  // away from zero on both sides
        XCTAssertEqual(NumberText.coordinate("-2.4"), -2)
        XCTAssertEqual(NumberText.coordinate("7."), 7)
        for bad in ["", ".", "-", "1e3", "nan", "inf", "4a8", "1.2.3", "0x10", " 1", "١٢", "1,5"] {
            XCTAssertNil(NumberText.coordinate(bad), bad)
        }
        XCTAssertEqual(NumberText.integer("-3"), -3)
        XCTAssertNil(NumberText.integer("3.0"))
        XCTAssertNil(NumberText.integer("1234567890"))  // more than 9 digits
    }

    func testMissingDifficultMeansZeroAndUnknownClassAllowedWithoutList() throws {
        let noDifficult = try AnnotationParser.parse(fileAt: Fixtures.badXML("no-difficult.xml"))
        XCTAssertEqual(noDifficult.objects.map(\.difficult), [false])
        XCTAssertEqual(noDifficult.objects.map(\.truncated), [true])
        let unicorn = try AnnotationParser.parse(fileAt: Fixtures.badXML("unknown-class.xml"))
        XCTAssertEqual(unicorn.objects.map(\.name), ["unicorn"])
    }

    func testParsesFromMemoryWithWhitespaceAndPredefinedEntities() throws {
        let xml = """
        <annotation><filename> a&amp;b.jpg </filename><size><width>10</width><height>20</height></size>
        <object><name> potted&#112;lant </name><occluded>1</occluded>
        <bndbox><xmin> 1 </xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object></annotation>
        """
        let annotation = try AnnotationParser.parse(Data(xml.utf8), file: "memory.xml", classes: .voc)
        XCTAssertNil(annotation.folder)
        XCTAssertEqual(annotation.filename, "a&b.jpg")
        XCTAssertEqual(annotation.depth, 3)  // missing depth -> 3
        XCTAssertEqual(annotation.objects, [VOCObject(name: "pottedplant", occluded: true,
                                                      box: PixelBox(xmin: 1, ymin: 2, xmax: 10, ymax: 20))])
    }

    func testConcurrentParsesAgree() throws {
        let url = try Fixtures.voc2007().appendingPathComponent("Annotations/000004.xml")
        let expected = try AnnotationParser.parse(fileAt: url)
        let results = OrderedParallel.map(count: 64, threads: 4) { _ in try? AnnotationParser.parse(fileAt: url) }
        XCTAssertEqual(results, Array(repeating: expected, count: 64))
    }
}
