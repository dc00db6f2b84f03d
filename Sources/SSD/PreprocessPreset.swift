import Imaging

/// The input normalisations of the reference SSD detectors (docs/reference-detectors.md, "Image preprocessing"),
/// applied by `Imaging`'s `preprocess`.
///
/// Every preset first resizes the decoded 8-bit RGB image to `size` x `size` **on uint8** with OpenCV's
/// INTER_LINEAR (aspect ratio ignored, as both reference repositories do), then maps each byte `x` of channel `c`
/// to `(x - mean[c]) * scale` in float32 and lays the result out channel-major.
public enum PreprocessPreset: String, CaseIterable, Sendable {
    /// qfgaohao MobileNetV1 SSD and MobileNetV2 SSD-Lite: RGB, `(x - 127) / 128`.
    case mobilenet
    /// qfgaohao VGG16 SSD: RGB minus `[123, 117, 104]`, std 1.
    case vgg16SSD = "vgg16-ssd"
    /// amdegroot VGG16 SSD300: BGR minus `(104, 117, 123)` then reordered to RGB, so the network sees
    /// `(R - 123, G - 117, B - 104)`, std 1 (numerically the same as `vgg16SSD`).
    case ssd300

    /// Per-channel mean in R, G, B order.
    public var mean: SIMD3<Float> {
        switch self {
        case .mobilenet: return SIMD3(127, 127, 127)
        case .vgg16SSD, .ssd300: return SIMD3(123, 117, 104)
        }
    }

    /// Multiplier applied after subtracting the mean (`1 / std`). 1/128 is a power of two, so multiplying gives
    /// the same float32 as the reference's division.
    public var scale: Float {
        switch self {
        case .mobilenet: return 1.0 / 128.0
        case .vgg16SSD, .ssd300: return 1
        }
    }

    /// The normalisation `Imaging.preprocess` applies.
    public var normalization: Normalization { Normalization(mean: mean, scale: scale) }
}

/// `Imaging.preprocess` with a detector's preset: resized to `size` x `size`, float32 CHW, channels R, G, B.
public func preprocess(_ image: RGBImage, size: Int = 300, preset: PreprocessPreset) -> [Float] {
    preprocess(image, size: size, normalization: preset.normalization)
}

/// The allocation-free variant of `preprocess(_:size:preset:)` (see `Imaging.preprocess(_:size:normalization:into:scratch:)`).
public func preprocess(_ image: RGBImage, size: Int = 300, preset: PreprocessPreset,
                       into out: UnsafeMutableBufferPointer<Float>, scratch: inout PreprocessScratch) {
    preprocess(image, size: size, normalization: preset.normalization, into: out, scratch: &scratch)
}
