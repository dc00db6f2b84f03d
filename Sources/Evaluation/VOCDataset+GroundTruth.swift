import Foundation
import VOC

extension VOCDataset {
    /// The split's ground truth for `DetectionEvaluator`: every annotation read in parallel, in split order.
    ///
    /// Objects of classes outside `classes` are skipped, as the devkit does when it scores one class at a time
    /// (`mpq dataset check` reports them); any other annotation problem is an error.
    /// - Throws: the `AnnotationError` of the first bad annotation in split order.
    public func groundTruth(threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> GroundTruth {
        let annotations = try loadAnnotations(threads: threads, checkClasses: false)
        return GroundTruth(classNames: classes.names,
                           annotations: zip(imageIDs, annotations).map { (id: $0.0, annotation: $0.1) })
    }
}
