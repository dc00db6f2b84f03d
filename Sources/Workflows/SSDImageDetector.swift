import Foundation
import Evaluation
import Imaging
import VOC
import SSD

/// The checkpoint and the class list disagree: the detections could not be named.
struct ClassCountMismatch: LocalizedError, CustomStringConvertible {
    let model: String
    let modelClasses: Int
    let list: String
    let listClasses: Int
    var description: String {
        "\(model): the model detects \(modelClasses) classes (plus background) but \(list) has \(listClasses); "
            + "pass the matching --classes file"
    }
    var errorDescription: String? { description }

    init(model: String, modelClasses: Int, list: String, listClasses: Int) {
        self.model = model
        self.modelClasses = modelClasses
        self.list = list
        self.listClasses = listClasses
    }
}

/// The SSD `Detector` (a struct with reusable buffers, mutated per image) behind the runner's `ImageDetector`.
/// The runner calls it from one thread at a time; the lock makes that a guarantee rather than an assumption.
final class SSDImageDetector: ImageDetector, @unchecked Sendable {
    private var detector: Detector
    private let lock = NSLock()

    init(_ detector: Detector) { self.detector = detector }

    func detect(_ image: RGBImage) throws -> [Detection] {
        lock.withLock { detector.detect(image, scoreThreshold: 0.01) }
    }
}
