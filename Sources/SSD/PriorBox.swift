import Foundation

/// One feature map's anchor layout: the cells of a `featureMapSize` x `featureMapSize` grid, each with
/// `2 + 2 * aspectRatios.count` prior boxes (docs/reference-detectors.md, "Priors").
public struct PriorSpec: Sendable, Equatable {
    /// Cells per side of the feature map.
    public var featureMapSize: Int
    /// Pixels of the 300x300 input per cell step (qfgaohao "shrinkage", amdegroot "step").
    public var shrinkage: Int
    /// Side of the small square prior in input pixels.
    public var minSize: Int
    /// With `minSize`, the big square's side `sqrt(minSize * maxSize)`.
    public var maxSize: Int
    /// Aspect ratios r; each adds the boxes (w*sqrt(r), h/sqrt(r)) and (w/sqrt(r), h*sqrt(r)).
    public var aspectRatios: [Int]

    public init(featureMapSize: Int, shrinkage: Int, minSize: Int, maxSize: Int, aspectRatios: [Int]) {
        self.featureMapSize = featureMapSize
        self.shrinkage = shrinkage
        self.minSize = minSize
        self.maxSize = maxSize
        self.aspectRatios = aspectRatios
    }

    /// Priors per cell: two squares plus two boxes per aspect ratio.
    public var boxesPerCell: Int { 2 + 2 * aspectRatios.count }
}

/// The prior (anchor) boxes of a detector, in the order the heads emit predictions: spec by spec, row `y`
/// (outer), column `x`, then the box slot fastest.
public struct PriorBoxes: Sendable, Equatable {
    /// How the big square is computed; the two repositories round differently in float64 before the float32 cast.
    public enum Convention: Sendable, Equatable {
        /// qfgaohao: `sqrt(min * max) / size`.
        case qfgaohao
        /// amdegroot: `sqrt(min / size * (max / size))`.
        case amdegroot
    }

    /// qfgaohao MobileNetV1 SSD and MobileNetV2 SSD-Lite: 3000 priors.
    public static let mobileNetSpecs: [PriorSpec] = [
        PriorSpec(featureMapSize: 19, shrinkage: 16, minSize: 60, maxSize: 105, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 10, shrinkage: 32, minSize: 105, maxSize: 150, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 5, shrinkage: 64, minSize: 150, maxSize: 195, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 3, shrinkage: 100, minSize: 195, maxSize: 240, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 2, shrinkage: 150, minSize: 240, maxSize: 285, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 1, shrinkage: 300, minSize: 285, maxSize: 330, aspectRatios: [2, 3]),
    ]

    /// qfgaohao VGG16 SSD and amdegroot SSD300 (`voc` config): 8732 priors.
    public static let vggSpecs: [PriorSpec] = [
        PriorSpec(featureMapSize: 38, shrinkage: 8, minSize: 30, maxSize: 60, aspectRatios: [2]),
        PriorSpec(featureMapSize: 19, shrinkage: 16, minSize: 60, maxSize: 111, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 10, shrinkage: 32, minSize: 111, maxSize: 162, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 5, shrinkage: 64, minSize: 162, maxSize: 213, aspectRatios: [2, 3]),
        PriorSpec(featureMapSize: 3, shrinkage: 100, minSize: 213, maxSize: 264, aspectRatios: [2]),
        PriorSpec(featureMapSize: 1, shrinkage: 300, minSize: 264, maxSize: 315, aspectRatios: [2]),
    ]

    public let specs: [PriorSpec]
    public let imageSize: Int
    /// `[count, 4]` row-major: `cx, cy, w, h`, normalised to the image and clamped to [0, 1].
    public let centerForm: [Float]

    public var count: Int { centerForm.count / 4 }

    /// Generates the priors in float64 (as Python does) and stores them as float32 (as `torch.tensor` does).
    /// Cell centre: `cx = (i + 0.5) / (imageSize / shrinkage)` with `i` the column; NOT `/ featureMapSize`.
    public init(specs: [PriorSpec], imageSize: Int = 300, convention: Convention = .qfgaohao) {
        self.specs = specs
        self.imageSize = imageSize
        let size = Double(imageSize)
        var out: [Float] = []
        out.reserveCapacity(specs.reduce(0) { $0 + $1.featureMapSize * $1.featureMapSize * $1.boxesPerCell } * 4)
        func append(_ cx: Double, _ cy: Double, _ w: Double, _ h: Double) {
            for v in [cx, cy, w, h] { out.append(Float(min(max(v, 0), 1))) }
        }
        for spec in specs {
            let scale = size / Double(spec.shrinkage)
            let small = Double(spec.minSize) / size
            let big: Double
            switch convention {
            case .qfgaohao: big = (Double(spec.maxSize) * Double(spec.minSize)).squareRoot() / size
            case .amdegroot: big = (small * (Double(spec.maxSize) / size)).squareRoot()
            }
            for row in 0..<spec.featureMapSize {
                for column in 0..<spec.featureMapSize {
                    let cx = (Double(column) + 0.5) / scale
                    let cy = (Double(row) + 0.5) / scale
                    append(cx, cy, small, small)
                    append(cx, cy, big, big)
                    for ratio in spec.aspectRatios {
                        let r = Double(ratio).squareRoot()
                        append(cx, cy, small * r, small / r)
                        append(cx, cy, small / r, small * r)
                    }
                }
            }
        }
        centerForm = out
    }
}
