import Foundation
import Evaluation
import VOC

/// Dataset loading shared by `evaluate-detections` and `evaluate`.
public enum EvaluationInputs {
    /// The split's ground truth: every annotation, objects of classes outside the list skipped (the devkit scores
    /// only the classes it is asked about).
    public static func groundTruth(vocRoot: String, split: String, classes: String?, threads: Int) throws -> GroundTruth {
        try groundTruth(dataset: open(vocRoot: vocRoot, split: split, classes: classes), threads: threads)
    }

    static func groundTruth(dataset: VOCDataset, threads: Int) throws -> GroundTruth {
        let annotations = try dataset.loadAnnotations(threads: threads, checkClasses: false)
        return GroundTruth(classNames: dataset.classes.names,
                           annotations: Array(zip(dataset.imageIDs, annotations)).map { (id: $0.0, annotation: $0.1) })
    }

    static func open(vocRoot: String, split: String, classes: String?) throws -> VOCDataset {
        let root = URL(fileURLWithPath: vocRoot)
        let classList = try ClassList.forDataset(root: root, explicit: classes.map { URL(fileURLWithPath: $0) })
        return try VOCDataset(root: root, split: split, classes: classList)
    }
}
