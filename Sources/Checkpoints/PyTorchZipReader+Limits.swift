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
