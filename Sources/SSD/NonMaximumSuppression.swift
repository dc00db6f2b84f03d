import VOC

/// Per-class greedy hard NMS and the reference post-processing (docs/reference-detectors.md, "Decoding and post-processing").
///
/// For each class 1..C-1 (0 is background): keep priors with score > `scoreThreshold`, take the
/// `candidateLimit` highest (ties: lower prior index first), then repeatedly keep the best remaining box and drop
/// those whose IoU with it exceeds `iouThreshold`. No per-image cap. All arithmetic is float32 in the
/// reference's order of operations, so the kept set matches PyTorch's.
public struct NonMaximumSuppression: Sendable, Equatable {
    /// How IoU is formed; the two repositories differ.
    public enum Convention: Sendable, Equatable {
        /// qfgaohao: `inter / (area_rest + area_best - inter + 1e-5)`, box sides clamped at 0.
        case qfgaohao
        /// amdegroot: `inter / ((area_rest - inter) + area_best)`, sides not clamped.
        case amdegroot
    }

    public var scoreThreshold: Float = 0.01
    public var iouThreshold: Float = 0.45
    public var candidateLimit: Int = 200
    public var convention: Convention

    public init(convention: Convention = .qfgaohao, scoreThreshold: Float = 0.01, iouThreshold: Float = 0.45,
                candidateLimit: Int = 200) {
        self.convention = convention
        self.scoreThreshold = scoreThreshold
        self.iouThreshold = iouThreshold
        self.candidateLimit = candidateLimit
    }

    /// IoU of two corner boxes `a` (a remaining candidate) and `b` (the box just kept), as the reference computes it.
    public func iou(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> Float {
        let iw = max(min(a.z, b.z) - max(a.x, b.x), 0)
        let ih = max(min(a.w, b.w) - max(a.y, b.y), 0)
        let inter = iw * ih
        switch convention {
        case .qfgaohao:
            let areaA = max(a.z - a.x, 0) * max(a.w - a.y, 0)
            let areaB = max(b.z - b.x, 0) * max(b.w - b.y, 0)
            return inter / (areaA + areaB - inter + Float(1e-5))
        case .amdegroot:
            let areaA = (a.z - a.x) * (a.w - a.y)
            let areaB = (b.z - b.x) * (b.w - b.y)
            return inter / ((areaA - inter) + areaB)
        }
    }

    /// Greedy NMS over the candidates of one class.
    /// - Parameters:
    ///   - candidates: prior indices with their score, in prior order.
    ///   - boxes: `[P, 4]` corners of all priors.
    /// - Returns: the kept prior indices, best first.
    public func suppress(_ candidates: [(index: Int, score: Float)], boxes: UnsafeBufferPointer<Float>) -> [Int] {
        let ordered = candidates.sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        var remaining = Array(ordered.prefix(candidateLimit).map(\.index))
        func box(_ i: Int) -> SIMD4<Float> { SIMD4(boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]) }
        var kept: [Int] = []
        while let best = remaining.first {
            kept.append(best)
            let b = box(best)
            remaining = remaining.dropFirst().filter { iou(box($0), b) <= iouThreshold }
        }
        return kept
    }

    /// The full post-processing of one image.
    /// - Parameters:
    ///   - scores: `[P, C]` softmax probabilities, class 0 background.
    ///   - boxes: `[P, 4]` normalised corners.
    ///   - width, height: the original image size; boxes are scaled to its pixels (float32 multiply).
    /// - Returns: detections per class ascending, each class's in NMS order; `classIndex` = network class - 1.
    public func detections(scores: [Float], boxes: [Float], classes: Int, width: Int, height: Int) -> [Detection] {
        precondition(classes > 1 && scores.count % classes == 0 && boxes.count == scores.count / classes * 4,
                     "NonMaximumSuppression: scores must be [P, C] and boxes [P, 4]")
        let priors = scores.count / classes
        let sx = Float(width), sy = Float(height)
        var out: [Detection] = []
        boxes.withUnsafeBufferPointer { boxBuffer in
            for c in 1..<classes {
                var candidates: [(index: Int, score: Float)] = []
                for p in 0..<priors where scores[p * classes + c] > scoreThreshold {
                    candidates.append((p, scores[p * classes + c]))
                }
                for i in suppress(candidates, boxes: boxBuffer) {
                    out.append(Detection(classIndex: c - 1, score: scores[i * classes + c],
                                         x1: boxes[4 * i] * sx, y1: boxes[4 * i + 1] * sy,
                                         x2: boxes[4 * i + 2] * sx, y2: boxes[4 * i + 3] * sy))
                }
            }
        }
        return out
    }
}
