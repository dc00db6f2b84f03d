import Foundation

/// A per-channel input normalisation: each byte `x` of channel `c` becomes `(x - mean[c]) * scale` in float32.
/// The detectors' presets (which mean, which scale, which channel order) live with the detectors (`SSD`'s
/// `PreprocessPreset`); this module only applies one.
public struct Normalization: Sendable, Equatable {
    /// Per-channel mean in R, G, B order.
    public var mean: SIMD3<Float>
    /// Multiplier applied after subtracting the mean (`1 / std`).
    public var scale: Float

    public init(mean: SIMD3<Float>, scale: Float) {
        self.mean = mean
        self.scale = scale
    }
}

/// Reusable buffers of `preprocess(_:size:normalization:into:scratch:)`: the resized uint8 image, kept between calls so a
/// loop over a dataset allocates nothing per image.
public struct PreprocessScratch: Sendable {
    var resized = RGBImage()
    public init() {}
}

/// Resizes `image` to `size` x `size` **on uint8** exactly like `cv2.resize(INTER_LINEAR)` (aspect ratio ignored)
/// and normalises it, laid out channel-major.
/// - Returns: float32 CHW, `3 * size * size` values: `out[c * size * size + y * size + x]`, channels R, G, B.
public func preprocess(_ image: RGBImage, size: Int = 300, normalization: Normalization) -> [Float] {
    var scratch = PreprocessScratch()
    return [Float](unsafeUninitializedCapacity: 3 * size * size) { buffer, count in
        preprocess(image, size: size, normalization: normalization, into: buffer, scratch: &scratch)
        count = 3 * size * size
    }
}

/// The allocation-free variant: writes `3 * size * size` floats (CHW, R G B) into `out`, using `scratch` for the
/// resized bytes. `out` must hold at least that many values (programmer error otherwise).
public func preprocess(_ image: RGBImage, size: Int = 300, normalization: Normalization,
                       into out: UnsafeMutableBufferPointer<Float>, scratch: inout PreprocessScratch) {
    precondition(size > 0 && out.count >= 3 * size * size, "preprocess: output buffer too small")
    image.resize(into: &scratch.resized, width: size, height: size)
    let plane = size * size
    let mean = normalization.mean, scale = normalization.scale
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
