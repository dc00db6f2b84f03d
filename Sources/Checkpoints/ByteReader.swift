/// A bounds-checked little-endian cursor over raw bytes. Every read checks the remaining length first, so a
/// declared length larger than the file is an error, never an out-of-bounds read or a huge allocation.
///
/// Offsets are absolute file offsets (`base` + position) so errors point at the real byte.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    /// Current position inside `bytes`.
    var position: Int
    /// File offset of `bytes[0]`, added to positions in error messages.
    let base: Int
    let file: String

    init(_ bytes: UnsafeRawBufferPointer, position: Int = 0, base: Int = 0, file: String) {
        self.bytes = bytes
        self.position = position
        self.base = base
        self.file = file
    }

    var remaining: Int { bytes.count - position }
    var fileOffset: Int { base + position }

    /// Fails unless `count` more bytes are available.
    func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw CheckpointError.truncated(file: file, offset: fileOffset,
                                            needed: "\(what()) (\(count) bytes, \(max(remaining, 0)) left)")
        }
    }

    mutating func uint8(_ what: @autoclosure () -> String = "a byte") throws -> UInt8 {
        try require(1, what())
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads an unsigned little-endian integer of `width` bytes (1...8).
    mutating func unsignedLE(_ width: Int, _ what: @autoclosure () -> String) throws -> UInt64 {
        try require(width, what())
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return value
    }

    mutating func int32LE(_ what: @autoclosure () -> String) throws -> Int32 {
        Int32(truncatingIfNeeded: try unsignedLE(4, what()))
    }

    mutating func int64LE(_ what: @autoclosure () -> String) throws -> Int64 {
        Int64(bitPattern: try unsignedLE(8, what()))
    }

    /// Returns a view of the next `count` bytes (valid while `bytes` is) and advances.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(count, what())
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    /// Reads up to and excluding the next `\n` (protocol-0 text arguments); fails if there is none within
    /// `limit` bytes so a missing newline cannot make a line swallow the file.
    mutating func line(limit: Int = 1 << 16, _ what: @autoclosure () -> String) throws -> [UInt8] {
        var end = position
        let stop = min(bytes.count, position + limit)
        while end < stop, bytes[end] != 0x0A { end += 1 }
        guard end < stop else {
            throw CheckpointError.truncated(file: file, offset: fileOffset, needed: "\(what()) ending in a newline")
        }
        let result = Array(bytes[position..<end])
        position = end + 1
        return result
    }
}
