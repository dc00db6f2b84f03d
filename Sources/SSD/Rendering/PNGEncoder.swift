import Foundation
import Imaging
import Evaluation
import VOC

/// A minimal PNG writer for 8-bit RGB images: no compression library needed, because the zlib stream uses
/// deflate's "stored" (uncompressed) blocks. Files are larger than a compressed PNG (about 3 bytes per pixel)
/// but every viewer opens them.
public enum PNGEncoder {
    /// The PNG bytes of `image` (colour type 2, bit depth 8, no interlace, filter 0 on every row).
    public static func encode(_ image: RGBImage) -> Data {
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.appendBigEndian(UInt32(image.width))
        header.appendBigEndian(UInt32(image.height))
        header.append(contentsOf: [8, 2, 0, 0, 0])   // depth 8, RGB, deflate, filter method 0, no interlace
        appendChunk("IHDR", header, to: &png)
        // Raw scanlines: a filter-type byte (0 = none) before each row.
        let rowBytes = image.width * 3
        var raw = Data(capacity: (rowBytes + 1) * image.height)
        image.pixels.withUnsafeBufferPointer { px in
            for y in 0..<image.height {
                raw.append(0)
                raw.append(contentsOf: px[(y * rowBytes)..<((y + 1) * rowBytes)])
            }
        }
        appendChunk("IDAT", zlibStored(raw), to: &png)
        appendChunk("IEND", Data(), to: &png)
        return png
    }

    /// A zlib stream (RFC 1950) holding `data` in stored deflate blocks (RFC 1951 §3.2.4) of at most 65535 bytes.
    static func zlibStored(_ data: Data) -> Data {
        var out = Data([0x78, 0x01])                  // CMF: deflate, 32K window; FLG: check bits, no dictionary
        var offset = data.startIndex
        repeat {
            let length = min(65_535, data.endIndex - offset)
            let final: UInt8 = offset + length == data.endIndex ? 1 : 0
            out.append(final)                         // BFINAL, BTYPE = 00 (stored)
            out.append(UInt8(length & 0xFF))
            out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xFF))
            out.append(UInt8((~length >> 8) & 0xFF))
            out.append(data[offset..<(offset + length)])
            offset += length
        } while offset < data.endIndex
        out.appendBigEndian(adler32(data))
        return out
    }

    static func appendChunk(_ type: String, _ body: Data, to png: inout Data) {
        png.appendBigEndian(UInt32(body.count))
        let typed = Data(type.utf8) + body
        png.append(typed)
        png.appendBigEndian(crc32(typed))
    }

    /// CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected), as PNG chunks use.
    static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    /// Adler-32 (RFC 1950).
    static func adler32(_ data: Data) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return (b << 16) | a
    }
}

extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF),
                            UInt8(value & 0xFF)])
    }
}
