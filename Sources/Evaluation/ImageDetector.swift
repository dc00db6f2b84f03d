import Foundation
import Imaging
import VOC

/// Anything that finds objects in an image: the SSD detector, a quantized one, or a test double.
///
/// `detect` is called from one thread at a time by `EvaluationRunner` (images are decoded on other threads);
/// it must return the same detections for the same image every time (determinism, resumability).
public protocol ImageDetector: Sendable {
    /// Detections in 0-based pixel coordinates of `image`; `Detection.classIndex` is 0-based into the class list
    /// the runner scores against (no background class).
    func detect(_ image: RGBImage) throws -> [Detection]
}
