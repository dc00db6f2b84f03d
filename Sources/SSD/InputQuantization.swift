import CDNNL
import Tensors

/// Per-tensor fake quantization of convolution inputs, as data: what an activation-quantized model applies to
/// each quantized conv's input, `x̂ = scale · clamp(round(x / scale), qmin, qmax)` (ties half away from zero; a
/// zero scale maps everything to 0).
///
/// `hook` is the same thing as a `ConvInputHook` (the native engine, staged passes); as data it can also be
/// compiled into the oneDNN program (`SSDModel.forward(…, quantization:)`), with identical per-element results.
public struct InputQuantization: Sendable, Equatable {
    /// One conv input's grid.
    public struct Grid: Sendable, Equatable {
        public let scale: Float
        public let qmin: Float
        public let qmax: Float

        public init(scale: Float, qmin: Float, qmax: Float) {
            self.scale = scale
            self.qmin = qmin
            self.qmax = qmax
        }

        @inline(__always)
        public func apply(_ x: Float) -> Float {
            guard scale > 0 else { return 0 }
            let q = (x / scale).rounded(.toNearestOrAwayFromZero)
            return scale * Swift.min(Swift.max(q, qmin), qmax)
        }

        /// `apply` over `count` floats (`x` and `y` may be the same buffer), in C (`mpq_fake_quantize`, the same
        /// bits as the scalar form; the compiler vectorises it, where Swift SIMD rounding without a CPU target is a
        /// library call per lane).
        public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
            mpq_fake_quantize(x, y, count, scale, qmin, qmax)
        }
    }

    /// Grids by conv checkpoint name; convs without one read their input unchanged.
    public var grids: [String: Grid]
    /// The int8 engine: the quantized convs' codes, run as integer convolutions by the oneDNN engine (the
    /// native engine, and the simulated engine when nil, run the fake quantization over reconstructed weights).
    public var integer: IntegerConvolutions?

    public init(_ grids: [String: Grid], integer: IntegerConvolutions? = nil) {
        self.grids = grids
        self.integer = integer
    }

    /// The same quantization as a conv input hook (a new tensor per quantized conv).
    public var hook: ConvInputHook {
        let grids = self.grids
        return { name, x in
            guard let g = grids[name] else { return x }
            var y = x
            y.data.withUnsafeMutableBufferPointer { b in
                guard let p = b.baseAddress else { return }
                g.apply(p, p, count: b.count)
            }
            return y
        }
    }
}
