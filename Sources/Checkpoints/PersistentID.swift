/// Decodes PyTorch's storage persistent id, shared by the legacy and zip readers:
/// `('storage', StorageClass, key, location, numel)` (zip) or with a sixth `view_metadata` entry (legacy):
/// `None`, or `(view_key, offset, view_size)` for a storage that is a slice of the root storage `key`.
enum PersistentID {
    /// Caps a storage's declared element count at what the file can hold, so `numel` never drives an
    /// allocation; the readers check the real byte count against it again.
    static func storage(_ pid: PickleValue, file: String, offset: Int) throws -> StorageRef {
        func fail(_ problem: String) -> CheckpointError {
            .malformedPickle(file: file, offset: offset, problem: "persistent id: \(problem)")
        }
        guard let items = pid.sequenceItems else { throw fail("a \(pid.typeName), not a tuple") }
        guard items.count == 5 || items.count == 6 else { throw fail("\(items.count) fields, expected 5 or 6") }
        guard case let .string(tag) = items[0], tag == "storage" else { throw fail("first field is not 'storage'") }
        guard case let .global(.storageType(dtype, _)) = items[1] else {
            throw fail("second field is a \(items[1].typeName), not a storage type")
        }
        guard let key = items[2].asString ?? items[2].asInt.map(String.init) else { throw fail("storage key is not a string") }
        guard let numel = items[4].asInt, numel >= 0 else { throw fail("element count is not a non-negative int") }
        if items.count == 6, let view = items[5].sequenceItems {
            guard view.count == 3, let viewOffset = view[1].asInt, let viewSize = view[2].asInt,
                  viewOffset >= 0, viewSize >= 0, viewOffset <= numel, viewSize <= numel - viewOffset else {
                throw fail("view metadata does not describe a slice of the \(numel)-element storage '\(key)'")
            }
            return StorageRef(key: key, dtype: dtype, numel: numel, elementOffset: viewOffset, count: viewSize)
        }
        return StorageRef(key: key, dtype: dtype, numel: numel, elementOffset: 0, count: numel)
    }
}
