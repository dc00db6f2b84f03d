/// The only Python globals a checkpoint pickle may name — the same spirit as PyTorch's `weights_only=True`.
/// Each is *interpreted* (its effect re-implemented on data), never looked up or called.
///
/// Deliberately absent: `torch.storage._load_from_bytes` (it unpickles nested bytes), any `builtins`,
/// `os`/`posix`/`subprocess` name, model classes, `numpy` scalars and `torch._utils._rebuild_qtensor` & co.
enum AllowedGlobal: Equatable {
    case orderedDict
    case rebuildTensor       // torch._utils._rebuild_tensor(storage, offset, size, stride), PyTorch < 0.4
    case rebuildTensorV2     // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, grad, hooks[, meta])
    case rebuildParameter    // torch._utils._rebuild_parameter(tensor, requires_grad, hooks)
    case rebuildParameterWithState  // ... (tensor, requires_grad, hooks, state)
    case storageType(TensorDType, name: String)

    /// Resolves `module.name`; `nil` when the global is not allowed. `torch.cuda.*Storage` appears in files
    /// saved from GPU tensors by old PyTorch; its bytes are the same.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", _), ("torch.cuda", _):
            guard let dtype = TensorDType(torchStorageName: name) else { return nil }
            self = .storageType(dtype, name: "\(module).\(name)")
        default: return nil
        }
    }

    var qualifiedName: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensor: return "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case let .storageType(_, name): return name
        }
    }

    /// Interprets `REDUCE` of this global with `args`. `fail` builds an error at the current opcode.
    func reduce(_ args: [PickleValue], fail: (String) -> Error) throws -> PickleValue {
        switch self {
        case .orderedDict:
            let dict = PickleDict()
            // OrderedDict() or OrderedDict([(k, v), ...]).
            if let first = args.first {
                guard args.count == 1, let pairs = first.sequenceItems else {
                    throw fail("OrderedDict expects no argument or one sequence of pairs")
                }
                for pair in pairs {
                    guard let kv = pair.sequenceItems, kv.count == 2 else {
                        throw fail("OrderedDict item is not a (key, value) pair")
                    }
                    dict.set(kv[0], kv[1])
                }
            }
            return .dict(dict)
        case .rebuildTensor, .rebuildTensorV2:
            let minimum = self == .rebuildTensor ? 4 : 6
            guard args.count >= minimum, args.count <= 7 else {
                throw fail("\(qualifiedName) expects \(minimum)...7 arguments, got \(args.count)")
            }
            guard case let .storage(storage) = args[0] else {
                throw fail("\(qualifiedName): first argument is \(args[0].typeName), not a storage")
            }
            guard let offset = args[1].asInt else { throw fail("\(qualifiedName): storage offset is not an int") }
            guard let shape = Self.ints(args[2]), let stride = Self.ints(args[3]) else {
                throw fail("\(qualifiedName): size and stride must be tuples of ints")
            }
            return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, stride: stride))
        case .rebuildParameter, .rebuildParameterWithState:
            guard let first = args.first, case .tensor = first else {
                throw fail("\(qualifiedName): first argument is not a tensor")
            }
            return first  // requires_grad, hooks and state do not change the values.
        case .storageType:
            throw fail("calling storage type \(qualifiedName) directly is not supported")
        }
    }

    /// A tuple/list of ints (torch.Size pickles as a tuple).
    private static func ints(_ value: PickleValue) -> [Int]? {
        guard let items = value.sequenceItems else { return nil }
        var result: [Int] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard case let .int(v) = item else { return nil }
            result.append(v)
        }
        return result
    }
}
