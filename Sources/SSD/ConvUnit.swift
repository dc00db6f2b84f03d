import Tensors

/// Called with a convolution's checkpoint name and its input just before the convolution runs; returns the
/// tensor the convolution actually sees. Used for activation fake-quantization and calibration statistics.
/// The input may be shared with other layers (a source feeds two heads): return a new tensor, never mutate.
public typealias ConvInputHook = (_ name: String, _ input: Tensor) -> Tensor

/// One convolution of a network as it runs: the checkpoint conv with any following BatchNorm folded in and
/// its activation fused. This is the unit quantizers see and replace.
public struct ConvUnit: Sendable {
    /// The conv's key prefix in the checkpoint, e.g. `base_net.14.conv.3` (weight `base_net.14.conv.3.weight`).
    public let name: String
    /// Key prefix of the BatchNorm folded into it (e.g. `base_net.14.conv.4`), or nil.
    public let foldedBatchNorm: String?
    /// The folded convolution: weight `[O, C / groups, kH, kW]`, bias `[O]` (always present after folding).
    public internal(set) var conv: Conv2D
    /// Outlier channel splitting (`SSDModel.splitInputChannels`): the conv reads an expanded input whose channel
    /// `t` is input channel `inputChannelMap[t]`; nil for an ordinary conv.
    public internal(set) var inputChannelMap: [Int]?

    init(name: String, foldedBatchNorm: String?, conv: Conv2D) {
        self.name = name
        self.foldedBatchNorm = foldedBatchNorm
        self.conv = conv
    }

    /// Runs the conv on `x` into `y` (storage reused), through `hook` when given.
    func run(_ x: Tensor, into y: inout Tensor, scratch: inout [Float], hook: ConvInputHook?) {
        let input = hook.map { $0(name, x) } ?? x
        if let inputChannelMap {
            conv(input.gatheringChannels(inputChannelMap), into: &y, scratch: &scratch)
        } else {
            conv(input, into: &y, scratch: &scratch)
        }
    }
}

/// Anything holding conv units, walked in execution order (for listing and replacing them by name).
protocol ConvContainer {
    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void)
}

extension ConvUnit: ConvContainer {
    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) { body(&self) }
}

extension Optional: ConvContainer where Wrapped: ConvContainer {
    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        if case .some(var unit) = self {
            unit.visitConvolutions(body)
            self = .some(unit)
        }
    }
}

extension Array: ConvContainer where Element: ConvContainer {
    mutating func visitConvolutions(_ body: (inout ConvUnit) -> Void) {
        for i in indices { self[i].visitConvolutions(body) }
    }
}
