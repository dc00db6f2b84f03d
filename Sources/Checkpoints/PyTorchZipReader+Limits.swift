import Foundation
import SafeIO
import ZIPFoundation

extension PyTorchZipReader {
    /// Walks the zip's end record and central directory ourselves before ZIPFoundation sees the file: at most
    /// `InputLimits.maxZipEntries` entries, and every entry's stored size and local-header offset (ZIP64 fields
    /// included) inside the file. ZIPFoundation 0.9.20 converts a 64-bit offset to `off_t` without a check and traps
    /// on one past `Int64.max` (found by fuzzing); an offset or size the file cannot hold is refused here instead.
    static func checkCentralDirectory(_ url: URL, file: String) throws {
        let data = try FileInput.read(url)
        func bad(_ problem: String) -> CheckpointError { .malformedContainer(file: file, problem: "zip archive: \(problem)") }
        let bytes = data  // mapped, indexed from 0; no copy
        let n = bytes.count
        func u(_ at: Int, _ width: Int) -> UInt64? {
            guard at >= 0, width <= 8, at <= n - width else { return nil }
            var v: UInt64 = 0
            for i in 0..<width { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            return v
        }
        // End of central directory: 22 bytes + a comment of up to 65535, searched from the end.
        guard n >= 22, let eocd = stride(from: n - 22, through: max(0, n - 22 - 65535), by: -1).first(where: {
            u($0, 4) == 0x0605_4B50
        }) else { throw bad("no end-of-central-directory record") }
        var count = u(eocd + 10, 2) ?? 0, cdSize = u(eocd + 12, 4) ?? 0, cdOffset = u(eocd + 16, 4) ?? 0
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // ZIP64: the locator sits just before the end record and points at the ZIP64 end record.
            guard u(eocd - 20, 4) == 0x0706_4B50, let at = u(eocd - 12, 8), at < UInt64(n),
                  u(Int(at), 4) == 0x0606_4B50, let c = u(Int(at) + 32, 8), let s = u(Int(at) + 40, 8),
                  let o = u(Int(at) + 48, 8) else { throw bad("ZIP64 end record missing or outside the file") }
            (count, cdSize, cdOffset) = (c, s, o)
        }
        guard count <= UInt64(InputLimits.maxZipEntries) else {
            throw bad("more than \(InputLimits.maxZipEntries) entries, the limit for a checkpoint")
        }
        guard cdOffset <= UInt64(n), cdSize <= UInt64(n) - cdOffset else { throw bad("central directory outside the file") }
        var at = Int(cdOffset)
        for index in 0..<Int(count) {
            guard u(at, 4) == 0x0201_4B50, var compressed = u(at + 20, 4), var uncompressed = u(at + 24, 4),
                  let nameLength = u(at + 28, 2), let extraLength = u(at + 30, 2), let commentLength = u(at + 32, 2),
                  var offset = u(at + 42, 4) else { throw bad("central directory record \(index) is cut off") }
            // ZIP64 extended information (id 1): the 64-bit values of the fields stored as 0xFFFFFFFF, in order.
            var extra = at + 46 + Int(nameLength)
            let extraEnd = extra + Int(extraLength)
            while extra + 4 <= extraEnd, let id = u(extra, 2), let length = u(extra + 2, 2) {
                if id == 1 {
                    var field = extra + 4
                    for value in [0, 1, 2] {
                        let stored = [uncompressed, compressed, offset][value]
                        guard stored == 0xFFFF_FFFF else { continue }
                        guard let v = u(field, 8) else { throw bad("ZIP64 field of record \(index) is cut off") }
                        if value == 0 { uncompressed = v } else if value == 1 { compressed = v } else { offset = v }
                        field += 8
                    }
                }
                extra += 4 + Int(length)
            }
            guard compressed <= UInt64(n), offset <= UInt64(n) else {
                throw bad("entry \(index) declares \(compressed) stored bytes at offset \(offset) in a \(n)-byte file")
            }
            _ = uncompressed  // bounded by the ratio limit when the entry is read
            at = extraEnd + Int(commentLength)
        }
    }
}

/// Thrown from ZIPFoundation's consumer when an entry inflates past its declared size.
struct ZipEntryOverrun: Error {}

extension PyTorchZipReader {
    /// An entry's stored (compressed) bytes lie inside the archive, so they cannot exceed the archive's size; with
    /// the ratio limit this bounds every declared size by the file's real size.
    static func checkStoredSize(_ entry: Entry, file: String) throws {
        let archiveBytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int).flatMap { $0 } ?? Int.max
        guard entry.compressedSize <= UInt64(archiveBytes) else {
            throw CheckpointError.malformedContainer(
                file: file, problem: "entry '\(entry.path)' declares \(entry.compressedSize) stored bytes in a "
                    + "\(archiveBytes)-byte archive")
        }
    }
}
