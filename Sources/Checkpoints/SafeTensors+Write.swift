import Foundation
import SafeIO

extension SafeTensors {
    /// Writes `dict` (tensors in `dict.keys` order, `dict.metadata` as `__metadata__`) atomically.
    /// - Throws: `CheckpointError.unwritable` when the file cannot be written.
    public static func write(_ dict: StateDict, to url: URL) throws {
        let data = encode(dict)
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as AtomicFile.WriteError {
            throw CheckpointError.unwritable(file: url.path, reason: error.problem)
        }
    }

    /// Convenience: tensors given as ordered pairs.
    public static func write(tensors: [(String, StoredTensor)], metadata: [String: String] = [:], to url: URL) throws {
        var dict = StateDict()
        for (name, tensor) in tensors { dict.set(name, tensor) }
        dict.metadata = metadata
        try write(dict, to: url)
    }

    /// The file bytes for `dict`. The header is padded with spaces to a multiple of 8 bytes (as the reference
    /// writer does) so the buffer starts aligned.
    public static func encode(_ dict: StateDict) -> Data {
        var json = "{"
        var first = true
        if !dict.metadata.isEmpty {
            let items = dict.metadata.keys.sorted().map { "\(quoted($0)):\(quoted(dict.metadata[$0] ?? ""))" }
            json += "\"__metadata__\":{\(items.joined(separator: ","))}"
            first = false
        }
        var offset = 0
        for key in dict.keys {
            guard let tensor = dict[key] else { continue }
            let end = offset + tensor.data.count
            if !first { json += "," }
            first = false
            json += "\(quoted(key)):{\"dtype\":\"\(tensor.dtype.safetensorsName)\","
                + "\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var header = Data(json.utf8)
        let padding = (8 - header.count % 8) % 8
        header.append(contentsOf: [UInt8](repeating: 0x20, count: padding))

        var out = Data()
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        for key in dict.keys { if let tensor = dict[key] { out.append(tensor.data) } }
        return out
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; other text as UTF-8.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
