// Element-wise activations, applied standalone or fused as a kernel epilogue.

/// The activation a kernel applies to its output before writing it.
public enum Activation: Sendable, Equatable {
    /// `y = x`.
    case identity
    /// `y = max(x, 0)`.
    case relu
    /// `y = min(max(x, 0), 6)` (MobileNetV2's `nn.ReLU6`).
    case relu6

    /// Applies the activation in place to `count` contiguous floats.
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .identity:
            return
        case .relu:
            for i in 0..<count { p[i] = max(p[i], 0) }
        case .relu6:
            for i in 0..<count { p[i] = min(max(p[i], 0), 6) }
        }
    }
}

extension Activation {
    /// The activation as a clamp to `[lower, upper]` (identity: unbounded), so kernels can apply it
    /// inside their store loop without branching per element.
    var bounds: (lower: Float, upper: Float) {
        switch self {
        case .identity: return (-.infinity, .infinity)
        case .relu: return (0, .infinity)
        case .relu6: return (0, 6)
        }
    }

    /// `p[i] = activation(p[i] + bias)` for `count` contiguous floats: the whole GEMM epilogue in one pass.
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int, adding bias: Float) {
        switch self {
        case .identity:
            for i in 0..<count { p[i] += bias }
        case .relu:
            for i in 0..<count { p[i] = max(p[i] + bias, 0) }
        case .relu6:
            for i in 0..<count { p[i] = min(max(p[i] + bias, 0), 6) }
        }
    }
}

/// Applies `activation` element-wise, in place.
public func applyActivation(_ activation: Activation, to x: inout Tensor) {
    let n = x.count
    x.data.withUnsafeMutableBufferPointer { buf in
        guard let p = buf.baseAddress else { return }
        activation.apply(p, count: n)
    }
}

/// `max(x, 0)` element-wise.
public func relu(_ x: Tensor) -> Tensor {
    var y = x
    applyActivation(.relu, to: &y)
    return y
}

/// `min(max(x, 0), 6)` element-wise.
public func relu6(_ x: Tensor) -> Tensor {
    var y = x
    applyActivation(.relu6, to: &y)
    return y
}
