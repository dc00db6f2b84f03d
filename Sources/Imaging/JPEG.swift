import CJPEG
import Foundation
import SafeIO

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
///
/// Layout: `pixels[(y * width + x) * 3 + c]`, HWC with c = 0 (R), 1 (G), 2 (B).
public struct RGBImage: Sendable, Equatable {
    public private(set) var width: Int
    public private(set) var height: Int
    /// `height * width * 3` bytes, row-major, channel fastest.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: pixel buffer does not match its size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An empty image, meant as a reusable decode target (`JPEGDecoder.decode(_:file:into:)`).
    public init() {
        self.width = 0
        self.height = 0
        self.pixels = []
    }

    /// Gives the image new dimensions. Shrinking keeps the leading bytes (a decode into a larger buffer writes its
    /// rows from the start, then trims); growing starts from a fresh zeroed buffer (one calloc, cheap even in debug
    /// builds) whose contents the caller overwrites.
    mutating func reshape(width: Int, height: Int) {
        let count = width * height * 3
        if pixels.count > count {
            pixels.removeLast(pixels.count - count)
        } else if pixels.count < count {
            pixels = [UInt8](repeating: 0, count: count)
        }
        self.width = width
        self.height = height
    }
}

/// A JPEG that could not be read or decoded.
public struct ImageError: LocalizedError, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var errorDescription: String? { "\(file): \(problem)" }
    public var description: String { errorDescription ?? problem }
}

/// JPEG decoding through libjpeg(-turbo), with the same choices as OpenCV's `cv2.imread(path, IMREAD_COLOR)`
/// (libjpeg defaults: accurate integer IDCT, fancy upsampling), returned as RGB instead of BGR.
///
/// Grayscale images come back as RGB (R = G = B); CMYK and YCCK are converted with OpenCV's own integer formula.
/// A truncated or damaged file is an error: libjpeg would otherwise pad it with grey and only warn.
/// Like `cv2.imread`, the EXIF orientation tag is applied (PASCAL VOC images carry none; phone photos in custom
/// datasets often do), so width and height may be swapped relative to the stored image.
public enum JPEGDecoder {
    /// Images with more pixels than this are refused before any allocation (a 65,500 x 65,500 header would
    /// otherwise ask for 12 GB).
    public static let maxPixels = InputLimits.maxImagePixels

    /// Decodes the JPEG at `url` to 8-bit RGB.
    /// - Throws: `ImageError` naming the file: unreadable, empty, not a JPEG, truncated, corrupt.
    public static func decode(fileAt url: URL) throws -> RGBImage {
        var image = RGBImage()
        try decode(fileAt: url, into: &image)
        return image
    }

    /// Decodes the JPEG at `url` into `image`, reusing its storage (no allocation once it is large enough).
    /// - Throws: `ImageError` naming the file.
    public static func decode(fileAt url: URL, into image: inout RGBImage) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImageError(file: url.path, problem: "cannot read the file (\(error.localizedDescription))")
        }
        try decode(data, file: url.path, into: &image)
    }

    /// Decodes JPEG bytes held in memory; `file` names them in errors.
    /// - Throws: `ImageError` naming `file`.
    public static func decode(_ data: Data, file: String) throws -> RGBImage {
        var image = RGBImage()
        try decode(data, file: file, into: &image)
        return image
    }

    /// Decodes JPEG bytes into `image`, reusing its storage; `file` names the bytes in errors.
    /// On error `image` is left with unspecified contents.
    /// - Throws: `ImageError` naming `file`.
    public static func decode(_ data: Data, file: String, into image: inout RGBImage) throws {
        guard !data.isEmpty else { throw ImageError(file: file, problem: "empty file (0 bytes), not a JPEG") }
        guard data.count >= 3, data[data.startIndex] == 0xFF, data[data.startIndex + 1] == 0xD8 else {
            throw ImageError(file: file, problem: "not a JPEG file (no FF D8 start-of-image marker)\(sniff(data))")
        }
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var result = decodeInto(bytes, image: &image)
            if result.status == Int32(MPQ_JPEG_NEEDS_BUFFER) {
                // First use of this buffer or a larger image: size it from the header, then decode for real.
                image.reshape(width: Int(result.width), height: Int(result.height))
                result = decodeInto(bytes, image: &image)
            }
            guard result.status == Int32(MPQ_JPEG_OK) else { throw error(for: result, file: file) }
            image.reshape(width: Int(result.width), height: Int(result.height))
            EXIFOrientation.apply(EXIFOrientation.read(bytes), to: &image)
        }
    }

    /// Reads the image size from the JPEG header only (fast: no pixel is decoded), after the EXIF orientation
    /// (orientations 5 to 8 swap width and height), i.e. the size `decode` returns.
    /// - Throws: `ImageError` naming `file`.
    public static func size(of data: Data, file: String) throws -> (width: Int, height: Int) {
        guard !data.isEmpty else { throw ImageError(file: file, problem: "empty file (0 bytes), not a JPEG") }
        let result = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            return mpq_jpeg_read_header(bytes.baseAddress, bytes.count)
        }
        guard result.status == Int32(MPQ_JPEG_OK) else { throw error(for: result, file: file) }
        if EXIFOrientation.read(data) >= 5 { return (Int(result.height), Int(result.width)) }
        return (Int(result.width), Int(result.height))
    }

    private static func decodeInto(_ bytes: UnsafeBufferPointer<UInt8>, image: inout RGBImage) -> mpq_jpeg_result {
        image.pixels.withUnsafeMutableBufferPointer { out in
            mpq_jpeg_decode_rgb(bytes.baseAddress, bytes.count, out.baseAddress, out.count, maxPixels)
        }
    }

    private static func error(for result: mpq_jpeg_result, file: String) -> ImageError {
        var copy = result
        let message = withUnsafeBytes(of: &copy.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        switch result.status {
        case Int32(MPQ_JPEG_TOO_LARGE):
            return ImageError(file: file, problem: "JPEG of \(result.width) x \(result.height) pixels exceeds the "
                + "limit of \(maxPixels) pixels")
        case Int32(MPQ_JPEG_NO_MEMORY):
            return ImageError(file: file, problem: "out of memory while decoding")
        case Int32(MPQ_JPEG_WARNING):
            // libjpeg's warnings (premature end of data, corrupt segments); the dataset checker's tests rely on
            // this wording.
            return ImageError(file: file, problem: "truncated or damaged JPEG (libjpeg: \(message))")
        default:
            return ImageError(file: file, problem: "corrupt or truncated JPEG (libjpeg: \(message))")
        }
    }

    /// A hint for files that are not JPEGs at all, from their first bytes.
    private static func sniff(_ data: Data) -> String {
        let head = [UInt8](data.prefix(8))
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "; it is a PNG file" }
        if head.starts(with: [0x47, 0x49, 0x46, 0x38]) { return "; it is a GIF file" }
        if head.starts(with: [0x42, 0x4D]) { return "; it looks like a BMP file" }
        if !head.isEmpty, head.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20...0x7E).contains($0) }) {
            return "; it looks like a text file"
        }
        return ""
    }
}
