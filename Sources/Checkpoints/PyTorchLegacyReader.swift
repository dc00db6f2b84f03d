import Foundation

/// Reads the legacy (non-zip, PyTorch < 1.6 default) `.pth` format: five pickles back to back, then raw storages.
///
/// Layout: `MAGIC` (LONG1 0x1950a86a20f9469cfc6c) · protocol version `1001` · sys-info dict (`little_endian`,
/// `type_sizes`) · the object (storages as persistent ids) · the list of storage keys · for each key in that
/// order an int64 LE element count followed by `count * element_size` bytes of little-endian data.
public enum PyTorchLegacyReader {
    /// The magic number as the 10 little-endian bytes LONG1 carries.
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let protocolVersion = 1001

    /// True when `prefix` starts with a pickle of the magic number: protocol 2 (`80 02 8a 0a` + magic, what
    /// `torch.save` writes by default) or any protocol the restricted unpickler reads (e.g. protocol 4 puts a
    /// FRAME first). Parsing is bounded by the prefix, so this never reads further.
    static func matches(_ prefix: Data) -> Bool {
        guard prefix.first == PickleOpcode.proto.rawValue else { return false }
        return prefix.withUnsafeBytes { raw in
            var reader = ByteReader(raw, file: "")
            let unpickler = Unpickler(file: "") { _, _ in .none }
            defer { unpickler.releaseGraph() }
            guard case let .bigInt(bytes)? = try? unpickler.load(&reader) else { return false }
            return bytes == magic
        }
    }

    public static func read(_ url: URL) throws -> StateDict {
        let data = try FileInput.read(url)
        return try read(data: data, file: url.path)
    }

    static func read(data: Data, file: String) throws -> StateDict {
        var storages: [String: TensorDType] = [:]
        var ranges: [String: Range<Int>] = [:]
        let main = Unpickler(file: file) { pid, offset in
            let ref = try PersistentID.storage(pid, file: file, offset: offset)
            if let known = storages[ref.key], known != ref.dtype {
                throw CheckpointError.malformedPickle(file: file, offset: offset,
                                                      problem: "storage '\(ref.key)' used as both \(known) and \(ref.dtype)")
            }
            storages[ref.key] = ref.dtype
            return .storage(ref)
        }
        defer { main.releaseGraph() }
        let noPersistent: Unpickler.PersistentLoad = { _, offset in
            throw CheckpointError.malformedPickle(file: file, offset: offset, problem: "unexpected persistent id in a header pickle")
        }

        let root: PickleValue = try data.withUnsafeBytes { raw in
            var reader = ByteReader(raw, file: file)
            // Each pickle has its own memo, hence its own unpickler.
            guard case let .bigInt(bytes) = try Unpickler(file: file, persistentLoad: noPersistent).load(&reader),
                  bytes == magic else {
                throw CheckpointError.malformedContainer(file: file, problem: "legacy PyTorch magic number not found")
            }
            let version = try Unpickler(file: file, persistentLoad: noPersistent).load(&reader)
            guard version.asInt == protocolVersion else {
                throw CheckpointError.malformedContainer(
                    file: file, problem: "unsupported legacy protocol version \(version.asInt.map(String.init) ?? version.typeName)")
            }
            let header = Unpickler(file: file, persistentLoad: noPersistent)
            defer { header.releaseGraph() }
            let sysInfo = try header.load(&reader)
            if case let .dict(info) = sysInfo, case .bool(false)? = info["little_endian"] {
                throw CheckpointError.malformedContainer(file: file, problem: "big-endian checkpoints are not supported")
            }
            let object = try main.load(&reader)
            let keyList = Unpickler(file: file, persistentLoad: noPersistent)
            defer { keyList.releaseGraph() }
            let keysOffset = reader.fileOffset
            guard let keyValues = try keyList.load(&reader).sequenceItems else {
                throw CheckpointError.malformedPickle(file: file, offset: keysOffset, problem: "storage key list is not a list")
            }
            for keyValue in keyValues {
                guard let key = keyValue.asString else {
                    throw CheckpointError.malformedPickle(file: file, offset: keysOffset, problem: "storage key is not a string")
                }
                guard let dtype = storages[key] else {
                    throw CheckpointError.malformedContainer(file: file, problem: "storage '\(key)' is listed but never used")
                }
                let count = try reader.int64LE("the element count of storage '\(key)'")
                let (bytes, overflow) = Int(count).multipliedReportingOverflow(by: dtype.byteSize)
                guard count >= 0, !overflow else {
                    throw CheckpointError.malformedContainer(file: file, problem: "storage '\(key)' declares \(count) elements")
                }
                let start = reader.position
                _ = try reader.take(bytes, "\(count) \(dtype.rawValue) elements of storage '\(key)'")
                ranges[key] = start..<(start + bytes)
            }
            return object
        }
        return try StateDictExtraction.extract(root, file: file) { ref in
            guard let range = ranges[ref.key] else {
                throw CheckpointError.malformedContainer(file: file, problem: "storage '\(ref.key)' has no data in the file")
            }
            // A slice, not a copy: materialisation copies exactly the tensor's bytes once.
            return data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)]
        }
    }
}
