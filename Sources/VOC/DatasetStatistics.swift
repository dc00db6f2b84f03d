/// Counts over a split's annotations: images, objects and difficult objects per class, image size range.
///
/// JSON (the `mpq dataset stats --json` format):
/// `{"images": N, "objects": N, "difficult": N, "classes": {"<name>": {"images": N, "objects": N,
/// "difficult": N}}, "unknown_classes": {...same shape...}, "image_size": {"min_width": W, "max_width": W,
/// "min_height": H, "max_height": H}, "split": "test"}`.
/// Every class of the class list appears in `classes`, zeros included. Objects whose class is not in the list
/// are counted only under `unknown_classes`, so `objects` is the sum of `classes[*].objects`.
/// A class's `images` counts the images holding at least one object of it (difficult ones included).
public struct DatasetStatistics: Sendable, Equatable, Encodable {
    public struct ClassCounts: Sendable, Equatable, Codable {
        public var images = 0
        public var objects = 0
        public var difficult = 0
        public init(images: Int = 0, objects: Int = 0, difficult: Int = 0) {
            self.images = images
            self.objects = objects
            self.difficult = difficult
        }
    }

    /// The range of image sizes written in the annotations (`<size>`), in pixels.
    public struct SizeRange: Sendable, Equatable, Codable {
        public var minWidth: Int
        public var maxWidth: Int
        public var minHeight: Int
        public var maxHeight: Int

        enum CodingKeys: String, CodingKey {
            case minWidth = "min_width", maxWidth = "max_width", minHeight = "min_height", maxHeight = "max_height"
        }
    }

    public var split: String
    public var images: Int
    /// Objects of classes in the class list.
    public var objects: Int
    public var difficult: Int
    /// Per class of the list (every class present).
    public var classes: [String: ClassCounts]
    /// Class names of the list, in list order (for tables; not encoded, JSON objects have no order).
    public var classOrder: [String]
    /// Per class name found in the annotations but not in the list, e.g. a typo `dgo` or a class left out.
    public var unknownClasses: [String: ClassCounts]
    /// Nil only for a split with no annotations.
    public var imageSize: SizeRange?

    enum CodingKeys: String, CodingKey {
        case split, images, objects, difficult, classes
        case unknownClasses = "unknown_classes", imageSize = "image_size"
    }

    /// Counts `annotations` (one per image of the split) against `classes`.
    public init(annotations: [VOCAnnotation], classes: ClassList, split: String) {
        self.split = split
        images = annotations.count
        classOrder = classes.names
        var known: [String: ClassCounts] = [:]
        for name in classes.names { known[name] = ClassCounts() }
        var unknown: [String: ClassCounts] = [:]
        var range: SizeRange?
        for annotation in annotations {
            var seen: Set<String> = []
            for object in annotation.objects {
                let isKnown = classes.contains(object.name)
                var counts = (isKnown ? known[object.name] : unknown[object.name]) ?? ClassCounts()
                counts.objects += 1
                if object.difficult { counts.difficult += 1 }
                if seen.insert(object.name).inserted { counts.images += 1 }
                if isKnown { known[object.name] = counts } else { unknown[object.name] = counts }
            }
            if var current = range {
                current.minWidth = min(current.minWidth, annotation.width)
                current.maxWidth = max(current.maxWidth, annotation.width)
                current.minHeight = min(current.minHeight, annotation.height)
                current.maxHeight = max(current.maxHeight, annotation.height)
                range = current
            } else {
                range = SizeRange(minWidth: annotation.width, maxWidth: annotation.width,
                                  minHeight: annotation.height, maxHeight: annotation.height)
            }
        }
        self.classes = known
        unknownClasses = unknown
        imageSize = range
        objects = known.values.reduce(0) { $0 + $1.objects }
        difficult = known.values.reduce(0) { $0 + $1.difficult }
    }

    /// Number of objects whose class is not in the list.
    public var unknownObjects: Int { unknownClasses.values.reduce(0) { $0 + $1.objects } }
}
