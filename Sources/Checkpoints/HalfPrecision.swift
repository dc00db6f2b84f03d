/// Bit-level float16 / bfloat16 conversions. Written out by hand because `Float16` is unavailable on
/// some platforms (macOS x86_64) and the conversions must be identical everywhere.
enum HalfPrecision {
    /// IEEE 754 binary16 bits -> Float (exact: every half value is a float).
    @inline(__always)
    static func float(fromHalf h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: value = mantissa * 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 0x1F {
            // Inf / NaN: keep the payload in the top mantissa bits.
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }

    /// Float -> binary16 bits, round to nearest even (as numpy and PyTorch do); overflow gives ±inf.
    static func half(fromFloat f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        var mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            // Inf stays inf; NaN keeps a quiet bit so it does not become inf.
            return sign | 0x7C00 | (mantissa == 0 ? 0 : UInt16(0x200 | (mantissa >> 13)))
        }
        let halfExponent = exponent - 112
        if halfExponent >= 0x1F { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Subnormal half (or zero): shift the implicit-1 mantissa right, rounding to nearest even.
            if halfExponent < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - halfExponent)
            let halfway: UInt32 = 1 << (shift - 1)
            let rest = mantissa & ((1 << shift) - 1)
            var value = mantissa >> shift
            if rest > halfway || (rest == halfway && (value & 1) == 1) { value += 1 }
            return sign | UInt16(value)
        }
        var value = UInt32(halfExponent) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1FFF
        // A carry out of the mantissa correctly bumps the exponent (up to inf).
        if rest > 0x1000 || (rest == 0x1000 && (value & 1) == 1) { value += 1 }
        return sign | UInt16(value)
    }

    /// bfloat16 bits -> Float (the upper half of a float32).
    @inline(__always)
    static func float(fromBFloat16 b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    /// Float -> bfloat16 bits, round to nearest even (as PyTorch's `.bfloat16()`); NaN stays NaN.
    static func bfloat16(fromFloat f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
