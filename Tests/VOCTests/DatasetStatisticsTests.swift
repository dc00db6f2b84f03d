import XCTest
@testable import VOC

final class DatasetStatisticsTests: XCTestCase {
    /// VOC2007 sample, split test = 000001...000005, counted by hand from the XML files:
    /// 000001 dog, person | 000002 train | 000003 sofa, chair | 000004 7 x car | 000005 5 x chair (2 difficult).
    /// objects = 2 + 1 + 2 + 7 + 5 = 17; chair: images {000003, 000005} = 2, objects 1 + 5 = 6, difficult 2.
    /// widths 353, 335, 500, 500, 500 -> 335...500; heights 500, 500, 375, 406, 375 -> 375...500.
    func testVOC2007SampleCounts() throws {
        let dataset = try VOCDataset(root: Fixtures.voc2007(), split: "test")
        let stats = DatasetStatistics(annotations: try dataset.loadAnnotations(threads: 2), classes: .voc,
                                      split: "test")
        XCTAssertEqual(stats.images, 5)
        XCTAssertEqual(stats.objects, 17)
        XCTAssertEqual(stats.difficult, 2)
        XCTAssertEqual(stats.classes.count, 20)
        let C = DatasetStatistics.ClassCounts.init(images:objects:difficult:)
        XCTAssertEqual(stats.classes["chair"], C(2, 6, 2))
        XCTAssertEqual(stats.classes["car"], C(1, 7, 0))
        for name in ["dog", "person", "train", "sofa"] { XCTAssertEqual(stats.classes[name], C(1, 1, 0), name) }
        XCTAssertEqual(stats.classes["aeroplane"], C(0, 0, 0))
        XCTAssertEqual(stats.classes.values.filter { $0.objects == 0 }.count, 14)
        XCTAssertEqual(stats.imageSize, .init(minWidth: 335, maxWidth: 500, minHeight: 375, maxHeight: 500))
        XCTAssertTrue(stats.unknownClasses.isEmpty)
    }

    /// With the list [dog, chair], person/train/sofa/car go to unknown_classes and out of `objects`:
    /// known objects = dog 1 + chair 6 = 7; unknown = person 1 + train 1 + sofa 1 + car 7 = 10.
    func testUnknownClassesCountedApart() throws {
        let dataset = try VOCDataset(root: Fixtures.voc2007(), split: "test",
                                     classes: ClassList(names: ["dog", "chair"]))
        let stats = DatasetStatistics(annotations: try dataset.loadAnnotations(checkClasses: false),
                                      classes: dataset.classes, split: "test")
        XCTAssertEqual(stats.objects, 7)
        XCTAssertEqual(stats.unknownObjects, 10)
        XCTAssertEqual(Set(stats.unknownClasses.keys), ["person", "train", "sofa", "car"])
        XCTAssertEqual(stats.classOrder, ["dog", "chair"])
    }

    func testJSONShape() throws {
        let object = VOCObject(name: "dog", difficult: true, box: PixelBox(xmin: 1, ymin: 1, xmax: 2, ymax: 2))
        let annotation = VOCAnnotation(folder: nil, filename: "a.jpg", width: 4, height: 3, depth: 3,
                                       segmented: false, objects: [object, object])
        let stats = DatasetStatistics(annotations: [annotation], classes: try ClassList(names: ["dog", "cat"]),
                                      split: "s")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(stats), as: UTF8.self)
        XCTAssertEqual(json, #"{"classes":{"cat":{"difficult":0,"images":0,"objects":0},"dog":{"difficult":2,"#
            + #""images":1,"objects":2}},"difficult":2,"image_size":{"max_height":3,"max_width":4,"min_height":3,"#
            + #""min_width":4},"images":1,"objects":2,"split":"s","unknown_classes":{}}"#)
    }
}
