import Foundation
import VOC

/// How detections are matched to ground truth: the reference evaluators differ in pixel conventions, the overlap
/// rule and arithmetic, and published numbers depend on which one was used.
///
/// All protocols share the devkit's matching loop: detections of one class sorted by descending score (stable, so
/// ties keep file order), each matched to the single ground-truth box of its image with the largest overlap (the
/// first one on ties); a difficult box makes the detection ignored (neither true nor false positive); a box already
/// taken makes it a false positive (duplicate).
public enum EvaluationProtocol: String, CaseIterable, Sendable, Codable {
    /// The official PASCAL VOC devkit (`VOCevaldet.m`): double precision, inclusive pixel boxes (`+1` in widths,
    /// heights and areas), match when overlap `>= 0.5`.
    case devkit
    /// py-faster-rcnn's `voc_eval.py` (also used by amdegroot/ssd.pytorch's `eval.py`): the devkit with a strict
    /// `> 0.5`. Differs from `devkit` only for overlaps of exactly one half.
    case pyFasterRCNN = "py-faster-rcnn"
    /// qfgaohao/pytorch-ssd's `eval_ssd.py`: ground truth = xml − 1 and detections = file − 1, continuous boxes
    /// (no `+1`), IoU in single precision with `1e-5` added to the union, match when IoU `> 0.5`.
    case pytorchSSD = "pytorch-ssd"
}

/// Average precision from a precision/recall curve.
public enum APMetric: String, CaseIterable, Sendable, Codable {
    /// VOC2007 11-point: mean over `t = Double(k) * 0.1`, `k = 0...10`, of the best precision at recall `>= t`
    /// (0 when no point reaches `t`). `3 * 0.1 = 0.30000000000000004`, so a recall of exactly 0.3 misses it,
    /// as in the devkit's `for t=0:0.1:1` and numpy's `arange(0, 1.1, 0.1)`.
    case voc07
    /// VOC2010+: area under the precision envelope (precision made non-increasing from the right) over recall.
    case voc10
}
