import SSD
import Tensors

/// Runs calibration images through a model and accumulates, at each listed conv's input, the Gram matrices
/// (via `Conv2D.accumulateInputGram`) and/or a `RangeObserver` — all in one forward pass per image.
///
/// Layers whose input tensor equals (same shape and values) an earlier layer's input in the same forward
/// pass and whose conv geometry (kernel, stride, padding, dilation, groups) is the same get the same `H`:
/// it is computed once and shared, which halves memory and time for SSD heads.
public final class Calibrator {
    private struct Geometry: Hashable {
        let kernelH, kernelW, stride, padding, dilation, groups, inChannels: Int
        init(_ c: Conv2D) {
            kernelH = c.kernelH; kernelW = c.kernelW; stride = c.stride; padding = c.padding
            dilation = c.dilation; groups = c.groups; inChannels = c.inChannels
        }
    }

    private let convs: [String: Conv2D]
    private let collectGrams: Bool
    private let collectRanges: Bool
    private var grams: [String: [[Double]]] = [:]
    private var ranges: [String: RangeObserver] = [:]
    /// Layer → the earlier layer whose Gram it shares (decided on the first image, checked on every image).
    private var sharedWith: [String: String] = [:]
    private var images = 0

    public init(layers: [QuantizableLayer], grams: Bool, ranges: Bool) {
        convs = Dictionary(layers.map { ($0.name, $0.conv) }, uniquingKeysWith: { first, _ in first })
        collectGrams = grams
        collectRanges = ranges
    }

    /// Observes one preprocessed image `[1, 3, 300, 300]`.
    public func observe(_ image: Tensor, model: SSDModel, workspace: inout SSDWorkspace) {
        var seen: [(name: String, geometry: Geometry, input: Tensor)] = []
        let first = images == 0
        _ = model.forward(image, workspace: &workspace) { name, x in
            guard let conv = self.convs[name] else { return x }
            if self.collectRanges { self.ranges[name, default: RangeObserver()].observe(x.data) }
            guard self.collectGrams else { return x }
            let geometry = Geometry(conv)
            if first {
                if let twin = seen.first(where: { $0.geometry == geometry && $0.input == x }) {
                    self.sharedWith[name] = self.sharedWith[twin.name] ?? twin.name
                }
                seen.append((name, geometry, x))
            }
            if self.sharedWith[name] == nil {
                conv.accumulateInputGram(x, into: &self.grams[name, default: []])
            }
            return x
        }
        images += 1
    }

    /// Number of images observed so far.
    public var imageCount: Int { images }

    /// The statistics so far (`CalibrationStatistics` is shared with the sensitivity jobs).
    public func statistics() throws -> CalibrationStatistics {
        var matrices: [String: [GramMatrix]] = [:]
        for (name, groups) in grams.sorted(by: { $0.key < $1.key }) {
            let d = convs[name]?.patchLength ?? 0
            matrices[name] = try groups.map { try GramMatrix(dimension: d, values: $0) }
        }
        for (name, owner) in sharedWith { matrices[name] = matrices[owner] }
        var statistics = CalibrationStatistics(grams: matrices, ranges: ranges)
        statistics.imageCount = Swift.max(images, 1)
        return statistics
    }
}
