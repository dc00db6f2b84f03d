import Foundation
import ZIPFoundation
import SafeIO

/// Reads the zip `.pth` format (PyTorch >= 1.6): `<root>/data.pkl` is the pickled object whose storages are
/// persistent ids `('storage', StorageClass, key, location, numel)`, each stored raw in `<root>/data/<key>`;
/// `<root>/byteorder` (when present) must say `little`. PyTorch writes the entries uncompressed.
public enum PyTorchZipReader {
    /// Local file header signature `PK\x03\x04`.
    static func matches(_ prefix: Data) -> Bool {
        [UInt8](prefix.prefix(4)) == [0x50, 0x4B, 0x03, 0x04]
    }

    public static func read(_ url: URL) throws -> StateDict {
        let file = url.path
        try checkCentralDirectory(url, file: file)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw CheckpointError.malformedContainer(file: file, problem: "not a readable zip archive (\(error))")
        }
        guard let pickleEntry = archive.first(where: { isRootPickle($0.path) }) else {
            throw CheckpointError.malformedContainer(file: file, problem: "zip archive has no <root>/data.pkl entry")
        }
        let root = String(pickleEntry.path.dropLast("/data.pkl".count))
        if let orderEntry = archive["\(root)/byteorder"] {
            let order = String(decoding: try contents(of: orderEntry, in: archive, file: file), as: UTF8.self)
            guard order.trimmingCharacters(in: .whitespacesAndNewlines) == "little" else {
                throw CheckpointError.malformedContainer(file: file, problem: "byte order '\(order)' is not supported")
            }
        }
        let pickle = try contents(of: pickleEntry, in: archive, file: file)

        let pickleName = "\(file)!\(pickleEntry.path)"  // offsets below are inside data.pkl
        let unpickler = Unpickler(file: pickleName) { pid, offset in
            .storage(try PersistentID.storage(pid, file: pickleName, offset: offset))
        }
        defer { unpickler.releaseGraph() }
        let object = try pickle.withUnsafeBytes { raw in
            var reader = ByteReader(raw, file: pickleName)
            return try unpickler.load(&reader)
        }

        var cache: [String: Data] = [:]
        return try StateDictExtraction.extract(object, file: file) { ref in
            if let cached = cache[ref.key] { return cached }
            let path = "\(root)/data/\(ref.key)"
            guard let entry = archive[path] else {
                throw CheckpointError.malformedContainer(file: file, problem: "missing storage entry '\(path)'")
            }
            let needed = ref.numel.multipliedReportingOverflow(by: ref.dtype.byteSize)
            guard !needed.overflow, UInt64(needed.partialValue) <= entry.uncompressedSize else {
                throw CheckpointError.malformedContainer(
                    file: file, problem: "entry '\(path)' holds \(entry.uncompressedSize) bytes, "
                        + "\(ref.numel) \(ref.dtype.rawValue) elements declared")
            }
            let bytes = try contents(of: entry, in: archive, file: file)
            cache[ref.key] = bytes
            return bytes
        }
    }

    /// `<root>/data.pkl` with a single-level root folder, as `torch.save` writes.
    static func isRootPickle(_ path: String) -> Bool {
        guard path.hasSuffix("/data.pkl") else { return false }
        return !path.dropLast("/data.pkl".count).contains("/")
    }

    /// Whole contents of an entry, CRC-checked. Sizes are bounded before any allocation: a stored entry
    /// cannot exceed the archive, and a deflated one may not claim an absurd expansion (zip bomb).
    static func contents(of entry: Entry, in archive: Archive, file: String) throws -> Data {
        let size = entry.uncompressedSize
        guard entry.type == .file else {
            throw CheckpointError.malformedContainer(file: file, problem: "entry '\(entry.path)' is not a file")
        }
        let ratio = InputLimits.maxZipCompressionRatio
        let limit: UInt64 = entry.isCompressed ? entry.compressedSize.multipliedReportingOverflow(by: ratio).partialValue + 4096
                                               : entry.compressedSize
        guard size <= limit, size < UInt64(Int.max) else {
            throw CheckpointError.malformedContainer(
                file: file, problem: "entry '\(entry.path)' declares \(size) bytes from \(entry.compressedSize) stored")
        }
        try checkStoredSize(entry, file: file)
        var data = Data()
        // Reserved up to 64 MiB only: the declared size is not trusted with an allocation (a header claiming
        // terabytes trapped in `reserveCapacity`, found by fuzzing); inflating past it is stopped below.
        data.reserveCapacity(Int(min(size, 1 << 26)))
        do {
            _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: true) { chunk in
                guard UInt64(data.count + chunk.count) <= size else { throw ZipEntryOverrun() }
                data.append(chunk)
            }
        } catch is ZipEntryOverrun {
            throw CheckpointError.malformedContainer(
                file: file, problem: "entry '\(entry.path)' inflates past its declared \(size) bytes")
        } catch {
            throw CheckpointError.malformedContainer(file: file, problem: "cannot read entry '\(entry.path)' (\(error))")
        }
        guard data.count == Int(size) else {
            throw CheckpointError.truncated(file: file, offset: 0, needed: "\(size) bytes in entry '\(entry.path)', got \(data.count)")
        }
        guard data.withUnsafeBytes({ ZipCRC32.checksum($0) }) == entry.checksum else {
            throw CheckpointError.malformedContainer(file: file, problem: "entry '\(entry.path)' fails its CRC-32 check")
        }
        return data
    }
}
