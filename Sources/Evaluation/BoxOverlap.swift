import Foundation
import VOC

/// Overlap of a detection with ground-truth boxes under each protocol's arithmetic.
enum BoxOverlap {
    /// The candidate with the largest overlap (the first one on ties, as MATLAB's and torch's max do), or nil when
    /// none counts. Devkit-style protocols only consider boxes that intersect (`iw > 0 && ih > 0`); pytorch-ssd
    /// takes the argmax over all of them (non-intersecting ones score 0).
    static func bestMatch(_ det: ScoredBox, candidates: ArraySlice<PixelBox>,
                          protocol evaluationProtocol: EvaluationProtocol) -> (offset: Int, overlap: Double)? {
        switch evaluationProtocol {
        case .devkit, .pyFasterRCNN:
            var best: (offset: Int, overlap: Double)?
            for (offset, g) in candidates.enumerated() {
                if let ov = inclusiveOverlap(det, g), ov > (best?.overlap ?? -.infinity) { best = (offset, ov) }
            }
            return best
        case .pytorchSSD:
            // The reference converts the file's numbers to float32 and subtracts 1 in float32.
            let dx1 = Float(det.x1) - 1, dy1 = Float(det.y1) - 1
            let dx2 = Float(det.x2) - 1, dy2 = Float(det.y2) - 1
            var best: (offset: Int, overlap: Float)?
            for (offset, g) in candidates.enumerated() {
                let iou = continuousIoU(dx1, dy1, dx2, dy2, g)
                if iou > (best?.overlap ?? -.infinity) { best = (offset, iou) }
            }
            return best.map { ($0.offset, Double($0.overlap)) }
        }
    }

    /// Whether an overlap is a match under the protocol's threshold rule.
    static func isMatch(_ overlap: Double, protocol evaluationProtocol: EvaluationProtocol) -> Bool {
        switch evaluationProtocol {
        case .devkit: return overlap >= 0.5
        case .pyFasterRCNN, .pytorchSSD: return overlap > 0.5
        }
    }

    /// `VOCevaldet.m`'s overlap in double precision with inclusive pixels, or nil when the boxes do not intersect.
    /// Operation order follows the devkit (`ua = A + B - iw*ih`, `ov = iw*ih/ua`) so the result is bit-identical.
    static func inclusiveOverlap(_ b: ScoredBox, _ g: PixelBox) -> Double? {
        let gx1 = Double(g.xmin), gy1 = Double(g.ymin), gx2 = Double(g.xmax), gy2 = Double(g.ymax)
        let iw = min(b.x2, gx2) - max(b.x1, gx1) + 1
        let ih = min(b.y2, gy2) - max(b.y1, gy1) + 1
        guard iw > 0 && ih > 0 else { return nil }
        let ua = (b.x2 - b.x1 + 1) * (b.y2 - b.y1 + 1) + (gx2 - gx1 + 1) * (gy2 - gy1 + 1) - iw * ih
        return iw * ih / ua
    }

    /// pytorch-ssd's `iou_of` in float32: ground truth shifted to 0-based (`xml - 1`), widths clamped at 0,
    /// `overlap / (area_det + area_gt - overlap + 1e-5)`.
    static func continuousIoU(_ dx1: Float, _ dy1: Float, _ dx2: Float, _ dy2: Float, _ g: PixelBox) -> Float {
        let gx1 = Float(g.xmin - 1), gy1 = Float(g.ymin - 1), gx2 = Float(g.xmax - 1), gy2 = Float(g.ymax - 1)
        let w = max(min(dx2, gx2) - max(dx1, gx1), 0)
        let h = max(min(dy2, gy2) - max(dy1, gy1), 0)
        let overlap = w * h
        let area0 = max(dx2 - dx1, 0) * max(dy2 - dy1, 0)
        let area1 = max(gx2 - gx1, 0) * max(gy2 - gy1, 0)
        return overlap / (area0 + area1 - overlap + Float(1e-5))
    }
}
