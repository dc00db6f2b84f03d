/// One detection of one image: a class index into the dataset's class list (0-based, no background), a
/// confidence, and a box in 0-based continuous pixel coordinates of the original image (the network's normalised
/// box times width/height, as the reference detectors produce it). Result files add 1 to follow the devkit.
public struct Detection: Sendable, Equatable, Codable {
    public var classIndex: Int
    public var score: Float
    public var x1: Float
    public var y1: Float
    public var x2: Float
    public var y2: Float

    public init(classIndex: Int, score: Float, x1: Float, y1: Float, x2: Float, y2: Float) {
        self.classIndex = classIndex
        self.score = score
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }
}
