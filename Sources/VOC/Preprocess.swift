/// The input normalisations of the reference SSD detectors (docs/reference-detectors.md, "Image preprocessing").
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
}

/// Reusable buffers of `preprocess(_:size:preset:into:scratch:)`: the resized uint8 image, kept between calls so a
/// loop over a dataset allocates nothing per image.
public struct PreprocessScratch: Sendable {
    var resized = RGBImage()
    public init() {}
}

/// Resizes `image` to `size` x `size` exactly like `cv2.resize(INTER_LINEAR)` and normalises it per `preset`.
/// - Returns: float32 CHW, `3 * size * size` values: `out[c * size * size + y * size + x]`, channels R, G, B.
public func preprocess(_ image: RGBImage, size: Int = 300, preset: PreprocessPreset) -> [Float] {
    var scratch = PreprocessScratch()
    return [Float](unsafeUninitializedCapacity: 3 * size * size) { buffer, count in
        preprocess(image, size: size, preset: preset, into: buffer, scratch: &scratch)
        count = 3 * size * size
    }
}

/// The allocation-free variant: writes `3 * size * size` floats (CHW, R G B) into `out`, using `scratch` for the
/// resized bytes. `out` must hold at least that many values (programmer error otherwise).
public func preprocess(_ image: RGBImage, size: Int = 300, preset: PreprocessPreset,
                       into out: UnsafeMutableBufferPointer<Float>, scratch: inout PreprocessScratch) {
    precondition(size > 0 && out.count >= 3 * size * size, "preprocess: output buffer too small")
    image.resize(into: &scratch.resized, width: size, height: size)
    let plane = size * size
    let mean = preset.mean, scale = preset.scale
    scratch.resized.pixels.withUnsafeBufferPointer { pixels in
        guard let src = pixels.baseAddress, let dst = out.baseAddress else { return }
        // One pass over the interleaved bytes, three planar streams out.
        for i in 0..<plane {
            dst[i] = (Float(src[3 * i]) - mean.x) * scale
            dst[plane + i] = (Float(src[3 * i + 1]) - mean.y) * scale
            dst[2 * plane + i] = (Float(src[3 * i + 2]) - mean.z) * scale
        }
    }
}
