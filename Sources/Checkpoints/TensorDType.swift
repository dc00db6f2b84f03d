/// Element types a checkpoint tensor can hold. Raw values are stable names used in `mpq inspect` JSON.
public enum TensorDType: String, Sendable, CaseIterable, Codable {
    case float32, float16, bfloat16, float64, int64, int32, int8, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// float32, float16, bfloat16 or float64.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        case .int64, .int32, .int8, .uint8, .bool: return false
        }
    }

    /// The dtype string of the safetensors header (`"F32"`, `"BF16"`, ...).
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .float64: return "F64"
        case .int64: return "I64"
        case .int32: return "I32"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    /// Parses a safetensors dtype string; `nil` for dtypes this package does not read (I16, U16, F8_*, ...).
    public init?(safetensorsName name: String) {
        guard let match = TensorDType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = match
    }

    /// Maps a PyTorch storage class name (`FloatStorage`, `HalfStorage`, ...) to its element type.
    /// `nil` for storage classes this package does not read (e.g. `ShortStorage`, `ComplexFloatStorage`).
    init?(torchStorageName name: String) {
        switch name {
        case "FloatStorage": self = .float32
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "DoubleStorage": self = .float64
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "CharStorage": self = .int8
        case "ByteStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }
}
