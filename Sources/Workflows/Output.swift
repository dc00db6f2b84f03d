import Foundation
import SafeIO

/// Where a command's JSON goes: `-` is standard output, anything else a file written atomically.
public enum Output {
    /// Encodes `value` as pretty, key-sorted JSON and writes it to `path` ("-" = stdout).
    public static func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        try write(data, to: path)
    }

    /// Writes bytes to `path` ("-" = stdout) atomically (temporary file + rename), creating parent folders.
    public static func write(_ data: Data, to path: String) throws {
        if path == "-" {
            FileHandle.standardOutput.write(data)
            return
        }
        try AtomicFile.write(data, to: URL(fileURLWithPath: path))
    }

    /// A line on standard error (progress, notes), so stdout stays clean for `--json -`.
    public static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
