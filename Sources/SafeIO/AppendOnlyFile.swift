import Foundation

/// A journal file that is only ever appended to, one complete line at a time, each flushed to disk (`fsync`)
/// before the call returns: the one writer besides `AtomicFile`, used by evaluate's and the sharded runs' journals.
///
/// Opening keeps the file's first `keep` bytes (what its owner read back as complete) and cuts the rest, a line
/// torn by a killed process; a missing or empty record (`keep == 0`) starts the file with `header`. An append
/// that fails (a full disk, a file-size limit) cuts what it wrote, so the file never holds a partial line.
public final class AppendOnlyFile {
    /// Why opening failed, with the system's error; each journal words its own one-line message.
    public enum OpenFailure: Error {
        case create
        case open(Error)
    }

    public let url: URL
    private let handle: FileHandle

    public init(url: URL, keep: Int, header: Data) throws(OpenFailure) {
        self.url = url
        var keep = keep
        if keep == 0 {
            guard FileManager.default.createFile(atPath: url.path, contents: header) else { throw .create }
            keep = header.count
        }
        do {
            handle = try FileHandle(forUpdating: url)
            try handle.truncate(atOffset: UInt64(keep))
            try handle.seekToEnd()
            try handle.synchronize()
        } catch {
            throw .open(error)
        }
    }

    deinit { try? handle.close() }

    /// Appends `line` (which ends with a newline) and flushes it to disk; rethrows the system's error.
    public func append(_ line: Data) throws {
        let end = try? handle.offset()
        do {
            try handle.write(contentsOf: line)
            try handle.synchronize()
        } catch {
            if let end { try? handle.truncate(atOffset: end) }
            throw error
        }
    }
}
