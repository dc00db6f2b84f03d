import Foundation

/// The on-disk format of a checkpoint, as detected from its first bytes.
public enum CheckpointFormat: String, Sendable, Codable {
    case pytorchLegacy, pytorchZip, safetensors
}

/// Loads any supported checkpoint, choosing the reader by magic bytes (never by file extension).
public enum Checkpoint {
    /// Reads `url` as a zip `.pth`, a legacy `.pth` or a safetensors file.
    /// - Returns: the tensors (wrappers unwrapped, `module.` stripped) and the detected format.
    /// - Throws: `CheckpointError` naming the file and the problem; nothing from the file is ever executed.
    public static func load(_ url: URL) throws -> (StateDict, CheckpointFormat) {
        let format = try detectFormat(url)
        switch format {
        case .pytorchZip: return (try PyTorchZipReader.read(url), format)
        case .pytorchLegacy: return (try PyTorchLegacyReader.read(url), format)
        case .safetensors: return (try SafeTensors.read(url), format)
        }
    }

    /// The format of `url` from its first 64 bytes and size.
    /// - Throws: `CheckpointError.unreadable` / `.unknownFormat`.
    public static func detectFormat(_ url: URL) throws -> CheckpointFormat {
        let prefix: Data
        let size: Int
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            prefix = try handle.read(upToCount: 64) ?? Data()
            size = Int(try handle.seekToEnd())
        } catch {
            throw CheckpointError.unreadable(file: url.path, reason: FileInput.reason(error))
        }
        if PyTorchZipReader.matches(prefix) { return .pytorchZip }
        // Legacy before safetensors: a safetensors header length of 128 + 256k also starts with 0x80, but its
        // next bytes never unpickle to the magic number.
        if PyTorchLegacyReader.matches(prefix) { return .pytorchLegacy }
        if SafeTensors.matches(prefix, fileSize: size) { return .safetensors }
        let hex = prefix.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw CheckpointError.unknownFormat(file: url.path, firstBytes: hex.isEmpty ? "empty file" : hex)
    }
}
