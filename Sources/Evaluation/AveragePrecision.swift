import Foundation
import VOC

/// Average precision of one ranked list, from its cumulative precision and recall (one entry per detection).
public enum AveragePrecision {
    /// AP under `metric`. `precision` and `recall` have one entry per ranked detection; recall is non-decreasing.
    public static func compute(precision: [Double], recall: [Double], metric: APMetric) -> Double {
        precondition(precision.count == recall.count, "AveragePrecision: precision and recall differ in length")
        switch metric {
        case .voc07: return elevenPoint(precision: precision, recall: recall)
        case .voc10: return area(precision: precision, recall: recall)
        }
    }

    /// VOC2007: `sum over k = 0...10 of max(precision[recall >= Double(k) * 0.1]) / 11`, a missing maximum
    /// counting 0. Summed in the devkit's order (`ap = ap + p/11`), so the result is bit-identical to it.
    static func elevenPoint(precision: [Double], recall: [Double]) -> Double {
        // best[i] = max(precision[i...]); recall is non-decreasing, so "recall >= t" is a suffix of the list.
        var best = precision
        if best.count > 1 {
            for i in stride(from: best.count - 2, through: 0, by: -1) { best[i] = Swift.max(best[i], best[i + 1]) }
        }
        var ap = 0.0
        var first = 0
        for k in 0...10 {
            let t = Double(k) * 0.1
            while first < recall.count && !(recall[first] >= t) { first += 1 }
            let p = first < recall.count ? best[first] : 0
            ap = ap + p / 11
        }
        return ap
    }

    /// VOC2010+: recall padded with 0 and 1, precision with 0 and 0; precision made non-increasing from the right;
    /// AP = sum of `(mrec[i] - mrec[i-1]) * mpre[i]` over the points where recall changes.
    static func area(precision: [Double], recall: [Double]) -> Double {
        var mrec = [0.0]
        mrec.append(contentsOf: recall)
        mrec.append(1)
        var mpre = [0.0]
        mpre.append(contentsOf: precision)
        mpre.append(0)
        for i in stride(from: mpre.count - 2, through: 0, by: -1) { mpre[i] = Swift.max(mpre[i], mpre[i + 1]) }
        var ap = 0.0
        for i in 1..<mrec.count where mrec[i] != mrec[i - 1] {
            ap += (mrec[i] - mrec[i - 1]) * mpre[i]
        }
        return ap
    }
}
