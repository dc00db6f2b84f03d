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

        /// `apply` over `count` floats (`x` and `y` may be the same buffer). Optimised builds run
        /// `applyVectorized`; debug builds the scalar loop (unoptimised SIMD code is many times slower there).
        public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
            #if DEBUG
            for i in 0..<count { y[i] = apply(x[i]) }
            #else
            applyVectorized(x, y, count: count)
            #endif
        }

        /// `apply` 16 floats at a time, with the same bits as the scalar form: the quotient is rounded half away
        /// from zero as `trunc(v) ± 1` when `|v - trunc(v)| >= 0.5` (`v - trunc(v)` is exact), because x86 has no
        /// such rounding instruction and the scalar form is a library call per element.
        func applyVectorized(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
            guard scale > 0 else {
                y.update(repeating: 0, count: count)
                return
            }
            let s = SIMD16<Float>(repeating: scale), lo = SIMD16<Float>(repeating: qmin)
            let hi = SIMD16<Float>(repeating: qmax), half = SIMD16<Float>(repeating: 0.5)
            let one = SIMD16<Float>(repeating: 1), zero = SIMD16<Float>(repeating: 0)
            let negativeZero = SIMD16<Float>(repeating: -0.0)
            var i = 0
            while i + 16 <= count {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) / s
                let negative = v .< zero
                // trunc(v), with the sign of a zero result taken from v as the scalar rounding keeps it.
                var t = v.rounded(.towardZero)
                t = t.replacing(with: negativeZero, where: negative .& (t .== zero))
                let fraction = v - t
                let away = fraction.replacing(with: -fraction, where: negative) .>= half
                let q = t.replacing(with: t + one.replacing(with: -one, where: negative), where: away)
                // Swift.max(q, lo) is `lo >= q ? lo : q`, Swift.min(m, hi) is `hi < m ? hi : m`: the same choices
                // (they decide which zero survives).
                let m = q.replacing(with: lo, where: lo .>= q)
                let c = m.replacing(with: hi, where: hi .< m)
                UnsafeMutableRawPointer(y + i).storeBytes(of: s * c, as: SIMD16<Float>.self)
                i += 16
            }
            while i < count {
                y[i] = apply(x[i])
                i += 1
            }
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
