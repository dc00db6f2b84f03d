import Foundation

extension StoredTensor {
    /// All elements as `Float`, row-major. Every dtype converts: float16/bfloat16 exactly, float64 and
    /// wide integers with rounding, bool as 0/1.
    public func floats() throws -> [Float] {
        let n = count
        let raw = Self.littleEndian(data, width: dtype.byteSize)  // identity on little-endian hosts
        return raw.withUnsafeBytes { src -> [Float] in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                switch dtype {
                case .float32:
                    // Bulk copy; `loadUnaligned` semantics via memcpy because Data need not be 4-aligned.
                    if n > 0, let base = out.baseAddress, let from = src.baseAddress { memcpy(base, from, n * 4) }
                case .float16:
                    for i in 0..<n { out[i] = HalfPrecision.float(fromHalf: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                case .bfloat16:
                    for i in 0..<n { out[i] = HalfPrecision.float(fromBFloat16: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
                case .float64:
                    for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                case .int64:
                    for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
                case .int32:
                    for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
                case .int8:
                    for i in 0..<n { out[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
                case .uint8:
                    for i in 0..<n { out[i] = Float(src[i]) }
                case .bool:
                    for i in 0..<n { out[i] = src[i] == 0 ? 0 : 1 }
                }
                initialized = n
            }
        }
    }

    /// The elements of an int8 tensor.
    /// - Throws: `CheckpointError.dtypeMismatch` for any other dtype (no silent narrowing).
    public func int8s() throws -> [Int8] {
        guard dtype == .int8 else { throw CheckpointError.dtypeMismatch(key: "", actual: dtype, expected: "int8") }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int8.self)) }
    }

    /// The raw bytes of a uint8 tensor.
    public func uint8s() throws -> [UInt8] {
        guard dtype == .uint8 else { throw CheckpointError.dtypeMismatch(key: "", actual: dtype, expected: "uint8") }
        return [UInt8](data)
    }

    /// The elements of an integer or bool tensor widened to `Int64` (e.g. `num_batches_tracked`).
    /// - Throws: `CheckpointError.dtypeMismatch` for floating-point dtypes.
    public func int64s() throws -> [Int64] {
        let n = count
        let raw = Self.littleEndian(data, width: dtype.byteSize)
        return try raw.withUnsafeBytes { src -> [Int64] in
            switch dtype {
            case .int64: return (0..<n).map { src.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
            case .int32: return (0..<n).map { Int64(src.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            case .int8: return (0..<n).map { Int64(src.load(fromByteOffset: $0, as: Int8.self)) }
            case .uint8, .bool: return (0..<n).map { Int64(src[$0]) }
            case .float32, .float16, .bfloat16, .float64:
                throw CheckpointError.dtypeMismatch(key: "", actual: dtype, expected: "an integer type")
            }
        }
    }
}
