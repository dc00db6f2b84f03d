import Foundation

/// Turns the regression head's offsets into boxes (docs/reference-detectors.md, "Decoding and post-processing"):
/// `centre = loc_xy * 0.1 * prior_wh + prior_xy`, `wh = exp(loc_wh * 0.2) * prior_wh`, then corners. No clipping.
public struct BoxDecoder: Sendable, Equatable {
    /// The order of the float32 operations that form the corners; the repositories differ in the last bit.
    public enum Convention: Sendable, Equatable {
        /// qfgaohao: `x1 = cx - w / 2`, `x2 = cx + w / 2`.
        case qfgaohao
        /// amdegroot: `x1 = cx - w / 2`, `x2 = w + x1`.
        case amdegroot
    }

    public var centerVariance: Float = 0.1
    public var sizeVariance: Float = 0.2
    public var convention: Convention

    public init(convention: Convention = .qfgaohao) {
        self.convention = convention
    }

    /// Decodes every prior's offsets.
    /// - Parameters:
    ///   - locations: `[P, 4]` row-major raw head outputs `(dx, dy, dw, dh)`, prior order.
    ///   - priors: `[P, 4]` centre-form priors `(cx, cy, w, h)`.
    ///   - boxes: receives `[P, 4]` corners `(x1, y1, x2, y2)`, normalised, unclipped.
    public func decode(locations: UnsafeBufferPointer<Float>, priors: UnsafeBufferPointer<Float>,
                       into boxes: UnsafeMutableBufferPointer<Float>) {
        precondition(locations.count == priors.count && boxes.count == priors.count && priors.count % 4 == 0,
                     "BoxDecoder: locations, priors and boxes must all be [P, 4]")
        let cv = centerVariance, sv = sizeVariance
        for p in stride(from: 0, to: priors.count, by: 4) {
            let pw = priors[p + 2], ph = priors[p + 3]
            let cx = locations[p] * cv * pw + priors[p]
            let cy = locations[p + 1] * cv * ph + priors[p + 1]
            let w = Foundation.exp(locations[p + 2] * sv) * pw
            let h = Foundation.exp(locations[p + 3] * sv) * ph
            let x1 = cx - w / 2, y1 = cy - h / 2
            boxes[p] = x1
            boxes[p + 1] = y1
            switch convention {
            case .qfgaohao:
                boxes[p + 2] = cx + w / 2
                boxes[p + 3] = cy + h / 2
            case .amdegroot:
                boxes[p + 2] = w + x1
                boxes[p + 3] = h + y1
            }
        }
    }

    /// Array convenience of `decode(locations:priors:into:)`: `[P, 4]` offsets -> `[P, 4]` corners.
    public func decode(locations: [Float], priors: [Float]) -> [Float] {
        var boxes = [Float](repeating: 0, count: priors.count)
        locations.withUnsafeBufferPointer { l in
            priors.withUnsafeBufferPointer { p in
                boxes.withUnsafeMutableBufferPointer { b in decode(locations: l, priors: p, into: b) }
            }
        }
        return boxes
    }
}
