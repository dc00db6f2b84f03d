/// Integer codes stored at their bit width (`mpq-quantized-v2` files).
///
/// A tensor of `n` codes of `b` bits (2 ≤ b ≤ 8) is one little-endian bit stream of `ceil(n·b / 8)` bytes: code `k`
/// occupies stream bits `k·b ..< (k+1)·b`, least significant bit first, and stream bit `i` is bit `i mod 8` (value
/// `1 << (i mod 8)`) of byte `i / 8`. A code is stored as its low `b` bits in two's complement and sign-extended on
/// reading. The last byte's unused high bits are zero. Rows are not padded: the stream runs over the whole
/// `[rows, d]` tensor in row-major order.
public enum CodePacking {
    /// Bytes needed for `count` codes of `bits` bits.
    public static func byteCount(codes count: Int, bits: Int) -> Int { (count * bits + 7) / 8 }

    /// Packs `codes` (each within `-(2^(b-1)) ..< 2^(b-1)`) into the bit stream.
    public static func pack(_ codes: [Int8], bits: Int) -> [UInt8] {
        precondition((2...8).contains(bits), "code width must be 2...8 bits")
        var out = [UInt8](repeating: 0, count: byteCount(codes: codes.count, bits: bits))
        let mask = UInt32((1 << bits) - 1)
        var bit = 0
        for c in codes {
            let v = UInt32(UInt8(bitPattern: c)) & mask
            let byte = bit >> 3, shift = bit & 7
            out[byte] |= UInt8(truncatingIfNeeded: v << shift)
            if shift + bits > 8 { out[byte + 1] |= UInt8(truncatingIfNeeded: v >> (8 - shift)) }
            bit += bits
        }
        return out
    }

    /// Unpacks `count` codes of `bits` bits (sign-extended). Nil when `bytes` has the wrong length or a nonzero
    /// padding bit (a file that was not written by `pack`).
    public static func unpack(_ bytes: [UInt8], count: Int, bits: Int) -> [Int8]? {
        guard (2...8).contains(bits), count >= 0, bytes.count == byteCount(codes: count, bits: bits) else { return nil }
        let used = count * bits
        if used % 8 != 0, let last = bytes.last, last >> (used % 8) != 0 { return nil }
        var out = [Int8](repeating: 0, count: count)
        let mask = UInt32((1 << bits) - 1), sign = UInt32(1 << (bits - 1))
        var bit = 0
        for k in 0..<count {
            let byte = bit >> 3, shift = bit & 7
            var v = UInt32(bytes[byte]) >> shift
            if shift + bits > 8 { v |= UInt32(bytes[byte + 1]) << (8 - shift) }
            v &= mask
            // Sign extension: subtract 2^b from values with the top bit set.
            out[k] = Int8(truncatingIfNeeded: Int32(v) - ((v & sign) != 0 ? Int32(1 << bits) : 0))
            bit += bits
        }
        return out
    }
}
