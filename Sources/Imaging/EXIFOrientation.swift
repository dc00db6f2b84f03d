import Foundation

/// The EXIF orientation tag (0x0112) of a JPEG, and the pixel transform `cv2.imread` applies for it.
///
/// OpenCV's imread (without `IMREAD_IGNORE_ORIENTATION`) turns every JPEG upright by its orientation tag, so
/// the reference detectors see rotated pixels for phone photos; `JPEGDecoder` does the same to stay bit-identical.
/// Values (EXIF 2.3, "0th row / 0th column"): 1 as stored, 2 mirrored left-right, 3 rotated 180, 4 mirrored
/// top-bottom, 5 transposed, 6 rotated 90 clockwise, 7 transverse, 8 rotated 90 counter-clockwise.
/// A missing, malformed or out-of-range tag means 1 (OpenCV ignores it too).
public enum EXIFOrientation {
    /// The orientation recorded in the first APP1 "Exif" segment before the image data, or 1.
    public static func read(_ data: Data) -> Int {
        data.withUnsafeBytes { raw in read(raw.bindMemory(to: UInt8.self)) }
    }

    static func read(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        // Walk the marker segments after SOI up to start-of-scan; every length is checked against the buffer.
        var pos = 2
        while pos + 4 <= bytes.count, bytes[pos] == 0xFF {
            let marker = bytes[pos + 1]
            if marker == 0xFF { pos += 1; continue }  // fill byte
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan / end of image
            let length = Int(bytes[pos + 2]) << 8 | Int(bytes[pos + 3])
            guard length >= 2, pos + 2 + length <= bytes.count else { break }
            if marker == 0xE1 && length >= 8 {
                let start = pos + 4
                if bytes[start] == 0x45, bytes[start + 1] == 0x78, bytes[start + 2] == 0x69, bytes[start + 3] == 0x66,
                   bytes[start + 4] == 0, bytes[start + 5] == 0 {  // "Exif\0\0"
                    return tiffOrientation(UnsafeBufferPointer(rebasing: bytes[(start + 6)..<(pos + 2 + length)]))
                }
            }
            pos += 2 + length
        }
        return 1
    }

    /// Orientation from a TIFF structure (byte order mark, IFD0 entries of 12 bytes).
    private static func tiffOrientation(_ tiff: UnsafeBufferPointer<UInt8>) -> Int {
        guard tiff.count >= 8 else { return 1 }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true   // "II"
        case (0x4D, 0x4D): little = false  // "MM"
        default: return 1
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return 1 }
        for entry in 0..<count {
            let at = ifd + 2 + 12 * entry
            guard let tag = u16(at) else { return 1 }
            // Tag 0x0112, type SHORT (3): the value sits in the first two bytes of the value field.
            if tag == 0x0112, u16(at + 2) == 3, let value = u16(at + 8) {
                return (1...8).contains(value) ? value : 1
            }
        }
        return 1
    }

    /// Turns `image` upright for `orientation` (1...8; anything else leaves it as is).
    public static func apply(_ orientation: Int, to image: inout RGBImage) {
        guard (2...8).contains(orientation) else { return }
        let w = image.width, h = image.height
        let transposed = orientation >= 5
        let outW = transposed ? h : w, outH = transposed ? w : h
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                guard let src = srcBuffer.baseAddress, let dst = dstBuffer.baseAddress else { return }
                for y in 0..<outH {
                    for x in 0..<outW {
                        // Source pixel of output (x, y); cases follow OpenCV's flip/transpose sequence.
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case 4: (sx, sy) = (x, h - 1 - y)
                        case 5: (sx, sy) = (y, x)
                        case 6: (sx, sy) = (y, h - 1 - x)
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                        default: (sx, sy) = (w - 1 - y, x)  // 8
                        }
                        let s = src + 3 * (sy * w + sx), d = dst + 3 * (y * outW + x)
                        d[0] = s[0]
                        d[1] = s[1]
                        d[2] = s[2]
                    }
                }
            }
        }
        image = RGBImage(width: outW, height: outH, pixels: out)
    }
}
