/// Named tensors in file order, plus string metadata (safetensors `__metadata__`, or the scalar entries
/// such as `epoch` that sat beside the state dict in a `.pth` wrapper).
public struct StateDict: Sendable {
    /// Tensor names in file order (pickle insertion order; safetensors data order).
    public private(set) var keys: [String] = []
    private var tensors: [String: StoredTensor] = [:]
    public var metadata: [String: String] = [:]

    public init() {}

    public subscript(key: String) -> StoredTensor? { tensors[key] }

    /// Adds or replaces a tensor; a new key goes to the end of `keys`.
    public mutating func set(_ key: String, _ tensor: StoredTensor) {
        if tensors.updateValue(tensor, forKey: key) == nil { keys.append(key) }
    }

    /// Removes a tensor; returns it if it was present.
    @discardableResult
    public mutating func remove(_ key: String) -> StoredTensor? {
        guard let removed = tensors.removeValue(forKey: key) else { return nil }
        keys.removeAll { $0 == key }
        return removed
    }

    public var count: Int { keys.count }

    /// Total elements over all tensors (integer buffers such as `num_batches_tracked` included,
    /// as `sum(t.numel() for t in state_dict.values())` counts them).
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }
}
