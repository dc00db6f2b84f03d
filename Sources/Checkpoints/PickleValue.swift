import Foundation

/// A value produced by the restricted unpickler. Only data and a handful of allow-listed PyTorch objects can
/// appear: there is no case for an arbitrary Python object, so nothing foreign can ever be constructed.
///
/// Containers are reference boxes (`PickleSequence`, `PickleDict`) because pickle mutates them in place
/// after memoising (`EMPTY_DICT, BINPUT 1, MARK ... SETITEMS`): a later `BINGET 1` must see the items.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for `Int` (LONG1/LONG4), as little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes(Data)
    case tuple(PickleSequence)
    /// Lists, and sets (kept as lists: order is irrelevant for what this reader needs).
    case list(PickleSequence)
    case dict(PickleDict)
    /// A resolved allow-listed global (a callable or a storage class).
    case global(AllowedGlobal)
    /// A storage returned by the persistent-id hook of the container reader.
    indirect case storage(StorageRef)
    /// A tensor rebuilt by `_rebuild_tensor(_v2)`: a strided view on a storage, not yet materialised.
    indirect case tensor(TensorRef)

    /// Short type name for error messages.
    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case let .global(g): return g.qualifiedName
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    var asInt: Int? {
        switch self {
        case let .int(v): return v
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }

    var asString: String? {
        if case let .string(s) = self { return s }
        // Python 2 `str` keys can arrive as bytes when they are not valid UTF-8; latin-1 is what Python's
        // `encoding='latin1'` would give, and keeps every byte.
        if case let .bytes(b) = self { return String(decoding: b.map { UInt16($0) }, as: UTF16.self) }
        return nil
    }

    /// Items of a tuple or list.
    var sequenceItems: [PickleValue]? {
        switch self {
        case let .tuple(s), let .list(s): return s.items
        default: return nil
        }
    }
}

/// A tuple, list or set. Reference type so memoised lists see later APPENDs, as in Python.
final class PickleSequence {
    var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// An insertion-ordered dict (Python dicts and OrderedDict keep insertion order). Setting an existing key
/// replaces its value in place, as Python does.
final class PickleDict {
    private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var indexOfString: [String: Int] = [:]
    private var indexOfInt: [Int: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        switch key {
        case let .string(s):
            if let i = indexOfString[s] { entries[i].value = value; return }
            indexOfString[s] = entries.count
        case let .int(n):
            if let i = indexOfInt[n] { entries[i].value = value; return }
            indexOfInt[n] = entries.count
        default:
            break  // Other key types are rare in checkpoints; keep them all, in order.
        }
        entries.append((key, value))
    }

    subscript(key: String) -> PickleValue? {
        indexOfString[key].map { entries[$0].value }
    }

    /// Drops every reference so the object graph is freed without recursion (and cycles are broken).
    func removeAll() {
        entries.removeAll()
        indexOfString.removeAll()
        indexOfInt.removeAll()
    }
}

/// A storage as named by a persistent id: `('storage', cls, key, location, numel[, view_metadata])`.
/// `elementOffset`/`count` select a sub-range for legacy `view_metadata`; otherwise the whole storage.
struct StorageRef {
    let key: String
    let dtype: TensorDType
    /// Elements in the whole stored storage (`numel` of the persistent id).
    let numel: Int
    let elementOffset: Int
    let count: Int
}

/// A strided view `(storage, storage_offset, size, stride)` as given to `_rebuild_tensor_v2`, in elements.
struct TensorRef {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let stride: [Int]
}
