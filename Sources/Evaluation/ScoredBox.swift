import Foundation
import VOC

/// One detection of one class as a result file holds it: the image (its position in `GroundTruth.imageIDs`), the
/// confidence, and the box in the devkit's 1-based pixel coordinates, exactly as read (double precision).
public struct ScoredBox: Sendable, Equatable {
    public var imageIndex: Int
    public var score: Double
    public var x1: Double
    public var y1: Double
    public var x2: Double
    public var y2: Double

    public init(imageIndex: Int, score: Double, x1: Double, y1: Double, x2: Double, y2: Double) {
        self.imageIndex = imageIndex
        self.score = score
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }
}
