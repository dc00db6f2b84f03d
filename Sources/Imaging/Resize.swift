import Foundation

/// Bilinear resize of 8-bit interleaved images, **bit-identical** to OpenCV's
/// `cv2.resize(src, (W, H), interpolation=cv2.INTER_LINEAR)` on `uint8` (checked against opencv-python-headless
/// on real VOC images, upscales, downscales and degenerate sizes; see `Scripts/gen_image_fixtures.py`).
///
/// The arithmetic OpenCV uses, reproduced here (facts, not its code):
/// - scale `s = 1 / (dst / src)` in double; source coordinate `f = Float((d + 0.5) * s - 0.5)` (single precision),
///   `i = floor(f)`, fraction `t = f - i`.
/// - Columns are clamped: `i < 0` becomes `i = 0, t = 0`; `i >= srcWidth - 1` becomes `i = srcWidth - 1, t = 0`.
///   Rows are not: their two taps `i` and `i + 1` are clamped to the image but the fraction stays.
/// - Weights are 11-bit fixed point, rounded half to even: `w0 = round((1 - t) * 2048)`, `w1 = round(t * 2048)`.
/// - Horizontal pass into 32-bit integers: `h = S[i] * w0 + S[i + 1] * w1` (at most 255 * 2048).
/// - Vertical pass as OpenCV's SIMD code does it, with its intermediate truncations (the scalar tail uses the
///   same formula): `((v0 * (h0 >> 4)) >> 16 + (v1 * (h1 >> 4)) >> 16 + 2) >> 2`. This is *not* the same as
///   `(v0 * h0 + v1 * h1 + 2^21) >> 22`, which differs by one grey level on a fraction of the pixels.
/// - OpenCV routes exact 2x downscales to INTER_AREA; for uint8 that gives the same numbers as the formula above
///   (the weights are 1024/1024 and every shift is exact), so no special case is needed.
///
/// A plan holds the per-column and per-row tables for one (source size, destination size, channels) triple and
/// can be reused across images of the same size.
public struct LinearResizePlan: Sendable {
    public let srcWidth: Int
    public let srcHeight: Int
    public let dstWidth: Int
    public let dstHeight: Int
    /// Interleaved channels per pixel, 1...4.
    public let channels: Int
    /// Per destination column: byte offset, within a source row, of the left tap's first channel.
    let xLeft: [Int32]
    /// Per destination column: byte offset of the right tap (equal to the left one where clamped).
    let xRight: [Int32]
    /// Per destination column: fixed-point weights `w0, w1` interleaved (`2 * dstWidth` values).
    let xWeights: [Int32]
    /// Per destination row: the two (clamped) source rows, interleaved.
    let yRows: [Int32]
    /// Per destination row: fixed-point weights `v0, v1` interleaved.
    let yWeights: [Int32]

    /// Builds the tables. Sizes must be positive and `channels` in 1...4 (programmer errors otherwise).
    public init(srcWidth: Int, srcHeight: Int, dstWidth: Int, dstHeight: Int, channels: Int) {
        precondition(srcWidth > 0 && srcHeight > 0 && dstWidth > 0 && dstHeight > 0, "resize: empty image")
        precondition((1...4).contains(channels), "resize: 1 to 4 channels")
        self.srcWidth = srcWidth
        self.srcHeight = srcHeight
        self.dstWidth = dstWidth
        self.dstHeight = dstHeight
        self.channels = channels

        var xLeft = [Int32](repeating: 0, count: dstWidth)
        var xRight = [Int32](repeating: 0, count: dstWidth)
        var xWeights = [Int32](repeating: 0, count: 2 * dstWidth)
        let scaleX = 1.0 / (Double(dstWidth) / Double(srcWidth))
        for dx in 0..<dstWidth {
            var (i, t) = Self.tap(dx, scale: scaleX)
            if i < 0 { (i, t) = (0, 0) }
            if i >= srcWidth - 1 { (i, t) = (srcWidth - 1, 0) }
            let (w0, w1) = Self.weights(t)
            xLeft[dx] = Int32(i * channels)
            xRight[dx] = Int32(min(i + 1, srcWidth - 1) * channels)
            xWeights[2 * dx] = w0
            xWeights[2 * dx + 1] = w1
        }
        var yRows = [Int32](repeating: 0, count: 2 * dstHeight)
        var yWeights = [Int32](repeating: 0, count: 2 * dstHeight)
        let scaleY = 1.0 / (Double(dstHeight) / Double(srcHeight))
        for dy in 0..<dstHeight {
            let (i, t) = Self.tap(dy, scale: scaleY)
            let (v0, v1) = Self.weights(t)
            yRows[2 * dy] = Int32(min(max(i, 0), srcHeight - 1))
            yRows[2 * dy + 1] = Int32(min(max(i + 1, 0), srcHeight - 1))
            yWeights[2 * dy] = v0
            yWeights[2 * dy + 1] = v1
        }
        self.xLeft = xLeft
        self.xRight = xRight
        self.xWeights = xWeights
        self.yRows = yRows
        self.yWeights = yWeights
    }

    /// Source coordinate of destination index `d` with half-pixel centres, split into integer part and fraction
    /// (single precision, as OpenCV computes it).
    static func tap(_ d: Int, scale: Double) -> (Int, Float) {
        let f = Float((Double(d) + 0.5) * scale - 0.5)
        let i = f.rounded(.down)
        return (Int(i), f - i)
    }

    /// 11-bit fixed-point weights of a fraction, rounded half to even like OpenCV's `saturate_cast<short>`.
    static func weights(_ t: Float) -> (Int32, Int32) {
        let w0 = ((1 - t) * 2048).rounded(.toNearestOrEven)
        let w1 = (t * 2048).rounded(.toNearestOrEven)
        return (Int32(w0), Int32(w1))
    }

    /// Resizes `src` (`srcHeight` rows of `srcWidth * channels` bytes) into `dst` (`dstHeight` rows of
    /// `dstWidth * channels` bytes). With `threads > 1` bands of destination rows run in parallel; the output is
    /// the same whatever the thread count (every output byte depends on the inputs only).
    public func run(_ src: UnsafeBufferPointer<UInt8>, into dst: UnsafeMutableBufferPointer<UInt8>, threads: Int = 1) {
        precondition(src.count >= srcWidth * srcHeight * channels, "resize: source buffer too small")
        precondition(dst.count >= dstWidth * dstHeight * channels, "resize: destination buffer too small")
        guard let srcBase = src.baseAddress, let dstBase = dst.baseAddress else { return }
        // Bands of at least 32 rows: below that, thread start-up costs more than the work.
        let bands = max(1, min(threads, dstHeight / 32))
        if bands == 1 {
            runBand(srcBase, dstBase, rows: 0..<dstHeight)
            return
        }
        // Raw addresses cross the concurrency boundary; each band writes a disjoint set of rows.
        let srcAddress = UInt(bitPattern: srcBase)
        let dstAddress = UInt(bitPattern: dstBase)
        DispatchQueue.concurrentPerform(iterations: bands) { band in
            let lo = dstHeight * band / bands, hi = dstHeight * (band + 1) / bands
            guard let s = UnsafePointer<UInt8>(bitPattern: srcAddress),
                  let d = UnsafeMutablePointer<UInt8>(bitPattern: dstAddress) else { return }
            runBand(s, d, rows: lo..<hi)
        }
    }

    /// One band of destination rows. Two 32-bit row buffers hold horizontally resized source rows; a source row
    /// shared by consecutive destination rows is resized once.
    private func runBand(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>, rows: Range<Int>) {
        let rowLength = dstWidth * channels
        let srcStride = srcWidth * channels
        let buffers = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * rowLength)
        defer { buffers.deallocate() }
        var held: (Int, Int) = (-1, -1)  // source row in buffer 0 and buffer 1
        xLeft.withUnsafeBufferPointer { left in
        xRight.withUnsafeBufferPointer { right in
        xWeights.withUnsafeBufferPointer { weights in
            for dy in rows {
                let r0 = Int(yRows[2 * dy]), r1 = Int(yRows[2 * dy + 1])
                // Put r0 in a buffer not holding r1, then r1 in the other one (unless r1 == r0).
                let slot0: Int
                if held.0 == r0 { slot0 = 0 } else if held.1 == r0 { slot0 = 1 } else {
                    slot0 = held.1 == r1 ? 0 : 1
                    horizontal(src + r0 * srcStride, buffers + slot0 * rowLength, left, right, weights)
                    if slot0 == 0 { held.0 = r0 } else { held.1 = r0 }
                }
                var slot1 = slot0
                if r1 != r0 {
                    slot1 = 1 - slot0
                    if (slot1 == 0 ? held.0 : held.1) != r1 {
                        horizontal(src + r1 * srcStride, buffers + slot1 * rowLength, left, right, weights)
                        if slot1 == 0 { held.0 = r1 } else { held.1 = r1 }
                    }
                }
                Self.vertical(buffers + slot0 * rowLength, buffers + slot1 * rowLength,
                              yWeights[2 * dy], yWeights[2 * dy + 1], dst + dy * rowLength, count: rowLength)
            }
        }
        }
        }
    }

    /// Horizontal pass of one source row: `out[dx * cn + c] = S[left + c] * w0 + S[right + c] * w1`.
    /// Plain pointer loops: they stay fast in debug builds, where generic SIMD types are not specialised.
    @inline(__always)
    private func horizontal(_ row: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<Int32>,
                            _ left: UnsafeBufferPointer<Int32>, _ right: UnsafeBufferPointer<Int32>,
                            _ weights: UnsafeBufferPointer<Int32>) {
        guard let lp = left.baseAddress, let rp = right.baseAddress, let wp = weights.baseAddress else { return }
        let n = dstWidth
        switch channels {
        case 3:
            var o = out
            for dx in 0..<n {
                let l = row + Int(lp[dx]), r = row + Int(rp[dx])
                let w0 = wp[2 * dx], w1 = wp[2 * dx + 1]
                o[0] = Int32(l[0]) &* w0 &+ Int32(r[0]) &* w1
                o[1] = Int32(l[1]) &* w0 &+ Int32(r[1]) &* w1
                o[2] = Int32(l[2]) &* w0 &+ Int32(r[2]) &* w1
                o += 3
            }
        case 1:
            for dx in 0..<n {
                out[dx] = Int32(row[Int(lp[dx])]) &* wp[2 * dx] &+ Int32(row[Int(rp[dx])]) &* wp[2 * dx + 1]
            }
        default:
            let cn = channels
            var o = out
            for dx in 0..<n {
                let l = row + Int(lp[dx]), r = row + Int(rp[dx])
                let w0 = wp[2 * dx], w1 = wp[2 * dx + 1]
                for c in 0..<cn { o[c] = Int32(l[c]) &* w0 &+ Int32(r[c]) &* w1 }
                o += cn
            }
        }
    }

    /// Vertical pass with OpenCV's truncations:
    /// `((v0 * (h0 >> 4)) >> 16 + (v1 * (h1 >> 4)) >> 16 + 2) >> 2`, always within 0...255 for weights summing to
    /// 2048, so the narrowing is exact. A branch-free loop over contiguous Int32s that the compiler vectorises in
    /// optimised builds (checked in the disassembly: 256-bit vpmulld/vpsrad with -march=native).
    @inline(__always)
    private static func vertical(_ h0: UnsafePointer<Int32>, _ h1: UnsafePointer<Int32>, _ v0: Int32, _ v1: Int32,
                                 _ out: UnsafeMutablePointer<UInt8>, count: Int) {
        for x in 0..<count {
            let sum = ((v0 &* (h0[x] &>> 4)) &>> 16) &+ ((v1 &* (h1[x] &>> 4)) &>> 16)
            out[x] = UInt8(truncatingIfNeeded: (sum &+ 2) &>> 2)
        }
    }
}

extension RGBImage {
    /// This image resized to `width` x `height` exactly as `cv2.resize(..., interpolation=cv2.INTER_LINEAR)`.
    public func resized(width: Int, height: Int, threads: Int = 1) -> RGBImage {
        var out = RGBImage()
        resize(into: &out, width: width, height: height, threads: threads)
        return out
    }

    /// Resizes into `out`, reusing its storage (no allocation once it is large enough).
    public func resize(into out: inout RGBImage, width: Int, height: Int, threads: Int = 1) {
        out.reshape(width: width, height: height)
        let plan = LinearResizePlan(srcWidth: self.width, srcHeight: self.height,
                                    dstWidth: width, dstHeight: height, channels: 3)
        pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in plan.run(src, into: dst, threads: threads) }
        }
    }
}
