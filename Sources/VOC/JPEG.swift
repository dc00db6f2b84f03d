import CJPEG
import Foundation

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `height * width * 3` bytes, row-major, channel fastest.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel buffer does not match its size")
        self.width = width
        self.height = height
        self.pixels = pixels
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

/// JPEG decoding through libjpeg(-turbo). Grayscale images come back as RGB (R = G = B); CMYK and YCCK are
/// converted to RGB. A truncated file is an error (libjpeg would otherwise pad it with grey silently).
public enum JPEGDecoder {
    /// Decodes the JPEG at `url` to 8-bit RGB.
    /// - Throws: `ImageError` naming the file: unreadable, empty, not a JPEG, truncated, corrupt.
    public static func decode(fileAt url: URL) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImageError(file: url.path, problem: "cannot read the file (\(error.localizedDescription))")
        }
        return try decode(data, file: url.path)
    }

    /// Decodes JPEG bytes held in memory; `file` names them in errors.
    public static func decode(_ data: Data, file: String) throws -> RGBImage {
        guard !data.isEmpty else { throw ImageError(file: file, problem: "empty file (0 bytes), not a JPEG") }
        guard data.count >= 3, data[data.startIndex] == 0xFF, data[data.startIndex + 1] == 0xD8 else {
            throw ImageError(file: file, problem: "not a JPEG file (no FF D8 start-of-image marker)")
        }
        var result = data.withUnsafeBytes { raw in
            mpq_jpeg_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count)
        }
        guard result.status == 0, let pixels = result.pixels else {
            let message = withUnsafeBytes(of: &result.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw ImageError(file: file, problem: "corrupt or truncated JPEG: \(message)")
        }
        defer { mpq_jpeg_free(pixels) }
        let count = Int(result.width) * Int(result.height) * 3
        let buffer = Array(UnsafeBufferPointer(start: pixels, count: count))
        return RGBImage(width: Int(result.width), height: Int(result.height), pixels: buffer)
    }
}
