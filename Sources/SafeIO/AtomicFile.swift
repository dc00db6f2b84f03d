import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way mpq writes an output file: a temporary file in the same folder, written completely and flushed,
/// then renamed over the destination. A reader sees the old file or the new one, never a mix; a full disk, a
/// file-size limit or an unwritable folder leaves the previous file as it was and no temporary file behind.
public enum AtomicFile {
    /// A file that could not be written; the previous contents (if any) are unchanged.
    public struct WriteError: Error, LocalizedError, CustomStringConvertible, Equatable {
        public let file: String
        public let problem: String
        public init(file: String, problem: String) {
            self.file = file
            self.problem = problem
        }
        public var description: String { "cannot write \(file): \(problem)" }
        public var errorDescription: String? { description }
    }

    /// Writes `data` to `url` atomically, creating missing parent folders.
    /// - Throws: `WriteError` naming the file and the system's reason (e.g. "No space left on device").
    public static func write(_ data: Data, to url: URL, createFolders: Bool = true) throws {
        let path = url.path
        let folder = url.deletingLastPathComponent().path
        if createFolders {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw WriteError(file: path, problem: "cannot create the folder \(folder) (\(reason(of: error)))")
            }
        }
        var template = Array((folder + "/." + url.lastPathComponent + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw WriteError(file: path, problem: systemReason(errno)) }
        let temporary = String(cString: template)
        var closed = false
        func fail(_ code: Int32) -> WriteError {
            if !closed { close(fd) }
            unlink(temporary)
            return WriteError(file: path, problem: systemReason(code))
        }
        // mkstemp creates 0600; outputs get the usual 0666 minus the umask, like any other created file.
        fchmod(fd, 0o666 & ~processUmask)
        let failure: Int32? = data.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
        if let failure { throw fail(failure) }
        if fsync(fd) != 0, errno != EINVAL { throw fail(errno) }
        closed = true
        if close(fd) != 0 { throw fail(errno) }
        if rename(temporary, path) != 0 { throw fail(errno) }
    }

    /// Writes UTF-8 text atomically.
    public static func write(_ text: String, to url: URL, createFolders: Bool = true) throws {
        try write(Data(text.utf8), to: url, createFolders: createFolders)
    }

    /// The process's umask, read without changing it (`umask()` can only be read by setting it, which would race
    /// with files other threads create); Linux reports it in /proc/self/status.
    static let processUmask: mode_t = {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
           let value = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) {
            return value
        }
        let mask = umask(0o022)
        umask(mask)
        return mask
    }()

    static func systemReason(_ code: Int32) -> String {
        let reason: String
        switch code {
        case EFBIG: reason = "file too large for the file-size limit (EFBIG)"
        case ENOSPC: reason = "no space left on device"
        default: reason = String(cString: strerror(code))
        }
        return reason + "; any previous file is unchanged"
    }

    static func reason(of error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
