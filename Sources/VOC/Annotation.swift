/// One PASCAL VOC annotation file (`Annotations/<id>.xml`), as the devkit reads it.
public struct VOCAnnotation: Sendable, Equatable, Codable {
    public var folder: String?
    public var filename: String
    /// Image size as written in the file (`<size>`); `depth` is usually 3.
    public var width: Int
    public var height: Int
    public var depth: Int
    public var segmented: Bool
    public var objects: [VOCObject]

    public init(folder: String?, filename: String, width: Int, height: Int, depth: Int, segmented: Bool,
                objects: [VOCObject]) {
        self.folder = folder
        self.filename = filename
        self.width = width
        self.height = height
        self.depth = depth
        self.segmented = segmented
        self.objects = objects
    }
}

/// One `<object>` of a VOC annotation.
public struct VOCObject: Sendable, Equatable, Codable {
    public var name: String
    public var pose: String?
    public var truncated: Bool
    /// Missing `<difficult>` means 0, as in the devkit.
    public var difficult: Bool
    public var occluded: Bool
    public var box: PixelBox
    /// Person-layout parts (`<part><name>head</name><bndbox>…`), empty for most objects.
    public var parts: [VOCPart]

    public init(name: String, pose: String? = nil, truncated: Bool = false, difficult: Bool = false,
                occluded: Bool = false, box: PixelBox, parts: [VOCPart] = []) {
        self.name = name
        self.pose = pose
        self.truncated = truncated
        self.difficult = difficult
        self.occluded = occluded
        self.box = box
        self.parts = parts
    }
}

/// A person-layout part (head, hand, foot) with its box.
public struct VOCPart: Sendable, Equatable, Codable {
    public var name: String
    public var box: PixelBox
    public init(name: String, box: PixelBox) {
        self.name = name
        self.box = box
    }
}

/// An integer box in VOC's 1-based, inclusive pixel coordinates (`xmin..xmax` covers `xmax - xmin + 1` pixels).
public struct PixelBox: Sendable, Equatable, Hashable, Codable {
    public var xmin: Int
    public var ymin: Int
    public var xmax: Int
    public var ymax: Int
    public init(xmin: Int, ymin: Int, xmax: Int, ymax: Int) {
        self.xmin = xmin
        self.ymin = ymin
        self.xmax = xmax
        self.ymax = ymax
    }
}
