import Foundation
import VOC

/// One ground-truth object as the evaluator sees it: its class (index into the class list), its box in VOC's
/// 1-based inclusive pixel coordinates, and whether it is marked difficult.
public struct GroundTruthObject: Sendable, Equatable {
    public var classIndex: Int
    public var box: PixelBox
    public var difficult: Bool

    public init(classIndex: Int, box: PixelBox, difficult: Bool) {
        self.classIndex = classIndex
        self.box = box
        self.difficult = difficult
    }
}

/// The ground truth of one image set (split): its image ids in image-set order and the objects of each image.
///
/// Only the listed images take part in scoring: an image without objects still counts (its detections are false
/// positives), and detections for an image outside the set are rejected when result files are read.
public struct GroundTruth: Sendable {
    /// The class names; `GroundTruthObject.classIndex` and `Detection.classIndex` index this list.
    public let classNames: [String]
    /// Image ids in image-set order.
    public let imageIDs: [String]
    /// `objects[i]` are the objects of `imageIDs[i]`, in annotation-file order (the order decides argmax ties).
    public let objects: [[GroundTruthObject]]
    private let indexByID: [String: Int]

    /// - Precondition: `objects.count == imageIDs.count`, ids unique, class indices inside `classNames`
    ///   (callers build these from parsed files and validate there).
    public init(classNames: [String], imageIDs: [String], objects: [[GroundTruthObject]]) {
        precondition(objects.count == imageIDs.count, "GroundTruth: one object list per image")
        var index: [String: Int] = [:]
        index.reserveCapacity(imageIDs.count)
        for (i, id) in imageIDs.enumerated() {
            precondition(index[id] == nil, "GroundTruth: duplicate image id \(id)")
            index[id] = i
        }
        for list in objects {
            for object in list {
                precondition(classNames.indices.contains(object.classIndex), "GroundTruth: class index out of range")
            }
        }
        self.classNames = classNames
        self.imageIDs = imageIDs
        self.objects = objects
        self.indexByID = index
    }

    /// Builds the ground truth from parsed annotations; objects whose name is not in `classNames` are skipped,
    /// as the devkit skips them when it scores one class at a time.
    public init(classNames: [String], annotations: [(id: String, annotation: VOCAnnotation)]) {
        var classIndex: [String: Int] = [:]
        for (i, name) in classNames.enumerated() { classIndex[name] = i }
        let objects = annotations.map { entry in
            entry.annotation.objects.compactMap { object -> GroundTruthObject? in
                guard let c = classIndex[object.name] else { return nil }
                return GroundTruthObject(classIndex: c, box: object.box, difficult: object.difficult)
            }
        }
        self.init(classNames: classNames, imageIDs: annotations.map(\.id), objects: objects)
    }

    /// The position of an image id in the set, or nil if the set does not list it.
    public func imageIndex(of id: String) -> Int? { indexByID[id] }

    /// The same ground truth restricted to the images at `indices` (kept in the given order): what a shard or a
    /// `--limit` run is scored against.
    public func subset(_ indices: [Int]) -> GroundTruth {
        GroundTruth(classNames: classNames, imageIDs: indices.map { imageIDs[$0] }, objects: indices.map { objects[$0] })
    }

    /// Number of non-difficult objects of class `c` (the devkit's `npos`).
    public func positives(ofClass c: Int) -> Int {
        objects.reduce(0) { sum, list in sum + list.reduce(0) { $0 + ($1.classIndex == c && !$1.difficult ? 1 : 0) } }
    }
}
