import Foundation
import SafeIO
import ZIPFoundation

extension PyTorchZipReader {
    /// Refuses an archive with more than `InputLimits.maxZipEntries` entries, stopping the central-directory walk
    /// at the first entry over the limit.
    static func checkEntryCount(_ archive: Archive, file: String) throws {
        var count = 0
        for _ in archive {
            count += 1
            if count > InputLimits.maxZipEntries {
                throw CheckpointError.malformedContainer(
                    file: file, problem: "zip archive has more than \(InputLimits.maxZipEntries) entries, the limit "
                        + "for a checkpoint")
            }
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
