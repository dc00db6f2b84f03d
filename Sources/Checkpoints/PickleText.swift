import Foundation

/// Parsers for the text arguments of protocol-0 opcodes (`I`, `L`, `F`, `S`, `V`, `p`, `g`).
/// They return `nil` on anything unexpected; the caller turns that into an error with the offset.
enum PickleText {
    static func ascii(_ bytes: [UInt8]) -> String? {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `I` argument: a decimal int, or `01`/`00` for True/False (Python 2.2 convention).
    static func intOrBool(_ bytes: [UInt8]) -> PickleValue? {
        guard let text = ascii(bytes) else { return nil }
        if text == "01" { return .bool(true) }
        if text == "00" { return .bool(false) }
        return Int(text).map { .int($0) }
    }

    /// `L` argument: a decimal long, with an optional trailing `L` (Python 2).
    static func long(_ bytes: [UInt8]) -> PickleValue? {
        guard var text = ascii(bytes) else { return nil }
        if text.hasSuffix("L") { text.removeLast() }
        return Int(text).map { .int($0) }
    }

    /// `F` argument: `repr(float)` text.
    static func float(_ bytes: [UInt8]) -> Double? {
        guard let text = ascii(bytes) else { return nil }
        switch text {
        case "inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default: return Double(text)
        }
    }

    /// `S` argument: a quoted Python `repr` of a byte string, with the usual backslash escapes.
    static func quotedBytes(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= 2, let quote = bytes.first, quote == 0x27 || quote == 0x22,
              bytes.last == quote else { return nil }
        var out: [UInt8] = []
        var i = 1
        let end = bytes.count - 1
        while i < end {
            let c = bytes[i]
            guard c == 0x5C else { out.append(c); i += 1; continue }  // backslash
            guard i + 1 < end else { return nil }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case 0x6E: out.append(0x0A)            // \n
            case 0x74: out.append(0x09)            // \t
            case 0x72: out.append(0x0D)            // \r
            case 0x5C, 0x27, 0x22: out.append(e)   // \\ \' \"
            case 0x78:                             // \xNN
                guard i + 2 <= end, let v = UInt8(String(decoding: bytes[i..<(i + 2)], as: UTF8.self), radix: 16)
                else { return nil }
                out.append(v)
                i += 2
            default: return nil
            }
        }
        return out
    }

    /// `V` argument: raw-unicode-escape (latin-1 bytes with `\uXXXX` / `\UXXXXXXXX` escapes).
    static func rawUnicodeEscape(_ bytes: [UInt8]) -> String? {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x5C, i + 1 < bytes.count, bytes[i + 1] == 0x75 || bytes[i + 1] == 0x55 {
                let width = bytes[i + 1] == 0x75 ? 4 : 8
                guard i + 2 + width <= bytes.count,
                      let code = UInt32(String(decoding: bytes[(i + 2)..<(i + 2 + width)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else { return nil }
                scalars.append(scalar)
                i += 2 + width
            } else {
                scalars.append(Unicode.Scalar(bytes[i]))
                i += 1
            }
        }
        return String(scalars)
    }

    /// Python 2 `str` (SHORT_BINSTRING/BINSTRING/STRING): text when valid UTF-8 (what `torch.load`'s
    /// default `encoding='utf-8'` gives), raw bytes otherwise.
    static func python2String(_ bytes: UnsafeRawBufferPointer) -> PickleValue {
        if let text = String(validating: bytes, as: UTF8.self) { return .string(text) }
        return .bytes(Data(bytes))
    }
}
