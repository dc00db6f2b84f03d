import Foundation
import Imaging
import Evaluation
import VOC

/// Draws detections onto an image: a 2-pixel rectangle per box in a per-class colour and a label
/// (`NAME 0.87`) in the 5x7 bitmap font at twice its size, on a filled tab above the box (inside it when the
/// box touches the top edge).
public enum DetectionOverlay {
    /// Distinct colours, cycled by class index.
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
        (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
        (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
        (0, 0, 128), (128, 128, 128),
    ]

    /// - Parameters:
    ///   - names: class names by `Detection.classIndex`; missing names draw as `CLASS n`.
    public static func draw(_ detections: [Detection], names: [String], on image: inout RGBImage) {
        for d in detections {
            let color = palette[((d.classIndex % palette.count) + palette.count) % palette.count]
            let x1 = clampedPixel(d.x1, image.width), x2 = clampedPixel(d.x2, image.width)
            let y1 = clampedPixel(d.y1, image.height), y2 = clampedPixel(d.y2, image.height)
            for t in 0..<2 {
                fill(&image, x1, y1 + t, x2, y1 + t, color)
                fill(&image, x1, y2 - t, x2, y2 - t, color)
                fill(&image, x1 + t, y1, x1 + t, y2, color)
                fill(&image, x2 - t, y1, x2 - t, y2, color)
            }
            let name = d.classIndex >= 0 && d.classIndex < names.count ? names[d.classIndex] : "class \(d.classIndex)"
            let label = "\(name) \(String(format: "%.2f", d.score))"
            let scale = 2
            let textWidth = label.count * (BitmapFont.width + 1) * scale + scale
            let tabHeight = (BitmapFont.height + 2) * scale
            let top = y1 - tabHeight >= 0 ? y1 - tabHeight : y1
            fill(&image, x1, top, x1 + textWidth - 1, top + tabHeight - 1, color)
            let luminance = 299 * Int(color.0) + 587 * Int(color.1) + 114 * Int(color.2)
            let ink: (UInt8, UInt8, UInt8) = luminance > 128_000 ? (0, 0, 0) : (255, 255, 255)
            text(label, at: x1 + scale, top + scale, scale: scale, color: ink, on: &image)
        }
    }

    static func clampedPixel(_ v: Float, _ extent: Int) -> Int {
        guard v.isFinite else { return 0 }
        return Int(min(max(v.rounded(), 0), Float(extent - 1)))
    }

    /// Fills the inclusive rectangle (clipped to the image).
    static func fill(_ image: inout RGBImage, _ x1: Int, _ y1: Int, _ x2: Int, _ y2: Int,
                     _ c: (UInt8, UInt8, UInt8)) {
        let w = image.width, h = image.height
        let xa = max(0, min(x1, x2)), xb = min(w - 1, max(x1, x2))
        let ya = max(0, min(y1, y2)), yb = min(h - 1, max(y1, y2))
        guard xa <= xb, ya <= yb else { return }
        image.pixels.withUnsafeMutableBufferPointer { px in
            for y in ya...yb {
                for x in xa...xb {
                    let i = 3 * (y * w + x)
                    px[i] = c.0
                    px[i + 1] = c.1
                    px[i + 2] = c.2
                }
            }
        }
    }

    static func text(_ s: String, at x0: Int, _ y0: Int, scale: Int, color: (UInt8, UInt8, UInt8),
                     on image: inout RGBImage) {
        var x = x0
        for ch in s {
            let rows = BitmapFont.glyph(ch)
            for (r, bits) in rows.enumerated() {
                for col in 0..<BitmapFont.width where bits & (1 << (BitmapFont.width - 1 - col)) != 0 {
                    let px = x + col * scale, py = y0 + r * scale
                    fill(&image, px, py, px + scale - 1, py + scale - 1, color)
                }
            }
            x += (BitmapFont.width + 1) * scale
        }
    }
}
