import Foundation
import SafeIO

/// safetensors read and write.
///
/// Layout: `N` (UInt64 LE) · `N` bytes of UTF-8 JSON `{"name": {"dtype": "F32", "shape": [..],
/// "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}` · the byte buffer, offsets relative to
/// its start, each tensor row-major little-endian. The header is validated completely before any tensor is
/// copied: known dtype, non-negative shape, `end - begin == numel * size`, inside the buffer, no overlaps.
public enum SafeTensors {
    /// The reference implementation refuses headers above 100 MB; so do we (also bounds the JSON parse).
    static let maxHeaderBytes = InputLimits.maxSafetensorsHeaderBytes

    /// True when `prefix` looks like a safetensors file of `fileSize` bytes (plausible `N`, JSON object).
    static func matches(_ prefix: Data, fileSize: Int) -> Bool {
        let bytes = [UInt8](prefix.prefix(9))
        guard bytes.count == 9 else { return false }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        return n >= 2 && n <= UInt64(max(fileSize - 8, 0)) && bytes[8] == UInt8(ascii: "{")
    }

    public static func read(_ url: URL) throws -> StateDict {
        try read(data: try FileInput.read(url), file: url.path)
    }

    static func read(data: Data, file: String) throws -> StateDict {
        func bad(_ problem: String) -> CheckpointError { .malformedContainer(file: file, problem: "safetensors header: \(problem)") }
        let (headerLength, header): (Int, Data) = try data.withUnsafeBytes { raw in
            var reader = ByteReader(raw, file: file)
            let n = try reader.unsignedLE(8, "the 8-byte header length")
            guard n <= UInt64(maxHeaderBytes) else { throw bad("declared length \(n) exceeds \(maxHeaderBytes) bytes") }
            return (Int(n), Data(try reader.take(Int(n), "a \(n)-byte JSON header")))
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw bad("not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw bad("not a JSON object") }

        let bufferStart = data.startIndex + 8 + headerLength
        let bufferSize = data.count - 8 - headerLength
        var entries: [(name: String, dtype: TensorDType, shape: [Int], range: Range<Int>)] = []
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in dict {
                    guard let text = v as? String else { throw bad("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = text
                }
                continue
            }
            func badTensor(_ problem: String) -> CheckpointError { .malformedTensor(file: file, key: name, problem: problem) }
            guard let info = value as? [String: Any] else { throw badTensor("entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw badTensor("missing dtype") }
            guard let dtype = TensorDType(safetensorsName: dtypeName) else { throw badTensor("unsupported dtype '\(dtypeName)'") }
            guard let shape = integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw badTensor("shape is not a list of non-negative integers")
            }
            guard let offsets = integers(info["data_offsets"]), offsets.count == 2 else {
                throw badTensor("data_offsets is not [begin, end]")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= bufferSize else {
                throw badTensor("data_offsets [\(begin), \(end)] outside the \(bufferSize)-byte buffer")
            }
            if let problem = InputLimits.tensorElementsProblem(shape) { throw badTensor(problem) }
            guard let bytes = StoredTensor.byteCount(shape: shape, dtype: dtype), bytes == end - begin else {
                throw badTensor("data_offsets [\(begin), \(end)] do not hold shape \(shape) of \(dtypeName)")
            }
            entries.append((name, dtype, shape, begin..<end))
        }
        // File order = buffer order (ties of empty tensors by name, so the order is deterministic).
        entries.sort { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        var previous: (name: String, end: Int)?
        for entry in entries {
            if let p = previous, entry.range.lowerBound < p.end {
                throw CheckpointError.malformedTensor(file: file, key: entry.name,
                                                      problem: "data overlaps tensor '\(p.name)'")
            }
            if !entry.range.isEmpty || previous == nil { previous = (entry.name, entry.range.upperBound) }
        }
        var result = StateDict()
        for entry in entries {
            let slice = data[(bufferStart + entry.range.lowerBound)..<(bufferStart + entry.range.upperBound)]
            result.set(entry.name, StoredTensor(validated: entry.dtype, shape: entry.shape, data: Data(slice)))
        }
        result.metadata = metadata
        return result
    }

    /// JSON numbers that are exact non-fractional integers (JSONSerialization yields NSNumber).
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in array {
            // Fractions are refused; values past 2^53 lose precision but exceed any buffer anyway.
            guard let number = item as? NSNumber, let int = Int(exactly: number.doubleValue) else { return nil }
            result.append(int)
        }
        return result
    }
}
