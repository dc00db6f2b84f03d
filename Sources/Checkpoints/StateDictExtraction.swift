import Foundation
import SafeIO

/// Turns the unpickled top-level object of a `.pth` file into a `StateDict`.
///
/// Accepted shapes: a bare (Ordered)dict of tensors; a wrapper dict whose `state_dict` / `model_state_dict` /
/// `model` / `net` / `network` / `state` entry (nested up to 4 levels) is that dict; scalar side entries
/// (`epoch`, `best_map`, `arch`) become `metadata`. A `module.` prefix present on every key (DataParallel)
/// is stripped.
enum StateDictExtraction {
    static let wrapperKeys = ["state_dict", "model_state_dict", "model", "net", "network", "state"]
    static let maxWrapperDepth = InputLimits.maxWrapperDepth

    /// - Parameter storageBytes: the raw bytes of a whole storage (all `numel` elements), by reference.
    static func extract(_ root: PickleValue, file: String,
                        storageBytes: (StorageRef) throws -> Data) throws -> StateDict {
        guard case let .dict(top) = root else {
            throw CheckpointError.malformedContainer(
                file: file, problem: "the pickled object is a \(root.typeName), not a dict of tensors")
        }
        var metadata: [String: String] = [:]
        let tensorDict = try locate(top, depth: 0, metadata: &metadata, file: file)

        var result = StateDict()
        var named: [(String, TensorRef)] = []
        for (key, value) in tensorDict.entries {
            guard case let .tensor(ref) = value else {
                if let name = key.asString, let text = scalarText(value) { metadata[name] = text }
                continue
            }
            guard let name = key.asString else {
                throw CheckpointError.malformedContainer(file: file, problem: "a tensor has a \(key.typeName) key, not a string")
            }
            named.append((name, ref))
        }
        let prefix = "module."
        let strip = !named.isEmpty && named.allSatisfy { $0.0.hasPrefix(prefix) }
        for (name, ref) in named {
            let bytes = try storageBytes(ref.storage)
            let tensor = try TensorView.materialize(ref, storage: bytes, file: file, key: name)
            result.set(strip ? String(name.dropFirst(prefix.count)) : name, tensor)
        }
        result.metadata = metadata
        return result
    }

    /// Finds the dict that holds the tensors, collecting scalar side entries of the wrappers on the way.
    private static func locate(_ dict: PickleDict, depth: Int, metadata: inout [String: String],
                               file: String) throws -> PickleDict {
        if dict.entries.contains(where: { if case .tensor = $0.value { return true } else { return false } }) {
            return dict
        }
        for (key, value) in dict.entries {
            if let name = key.asString, let text = scalarText(value) { metadata[name] = text }
        }
        if depth < maxWrapperDepth {
            for key in wrapperKeys {
                if case let .dict(inner)? = dict[key] {
                    return try locate(inner, depth: depth + 1, metadata: &metadata, file: file)
                }
            }
        }
        let keys = dict.entries.prefix(8).compactMap { $0.key.asString }.map { "'\($0)'" }.joined(separator: ", ")
        throw CheckpointError.malformedContainer(
            file: file, problem: "no tensors found: the top-level dict has keys [\(keys)] and none of the wrapper keys "
                + wrapperKeys.joined(separator: "/") + " holds a state dict")
    }

    /// Text for metadata of a scalar pickle value; `nil` for containers and other non-scalars.
    private static func scalarText(_ value: PickleValue) -> String? {
        switch value {
        case let .int(v): return String(v)
        case let .float(v): return String(v)
        case let .bool(v): return v ? "true" : "false"
        case let .string(s): return s
        default: return nil
        }
    }
}
