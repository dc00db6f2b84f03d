// Shape plumbing and element-wise ops around the kernels: residual add, concat, layout changes.

/// `a + b` element-wise (MobileNetV2's residual connections); shapes must match.
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    var y = a
    addInPlace(&y, b)
    return y
}

/// `a += b` element-wise; shapes must match.
public func addInPlace(_ a: inout Tensor, _ b: Tensor) {
    precondition(a.shape == b.shape, "add shape mismatch \(a.shape) vs \(b.shape)")
    let n = a.count
    a.data.withUnsafeMutableBufferPointer { ab in
        b.data.withUnsafeBufferPointer { bb in
            guard let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
            for i in 0..<n { ap[i] += bp[i] }
        }
    }
}

/// Concatenates NCHW tensors along the channel axis; all must share N, H and W.
public func concatChannels(_ xs: [Tensor]) -> Tensor {
    precondition(!xs.isEmpty && xs.allSatisfy { $0.rank == 4 }, "concatChannels needs NCHW tensors")
    let n = xs[0].shape[0], h = xs[0].shape[2], w = xs[0].shape[3]
    precondition(xs.allSatisfy { $0.shape[0] == n && $0.shape[2] == h && $0.shape[3] == w },
                 "concatChannels: N, H, W must match")
    let c = xs.reduce(0) { $0 + $1.shape[1] }
    var data = [Float]()
    data.reserveCapacity(n * c * h * w)
    for image in 0..<n {
        for x in xs {
            let per = x.shape[1] * h * w
            data.append(contentsOf: x.data[image * per..<(image + 1) * per])
        }
    }
    return Tensor(shape: [n, c, h, w], data: data)
}

/// Concatenates tensors along axis 1 after viewing each as `[N, -1]`; SSD's head outputs use this.
public func concatFlattened(_ xs: [Tensor]) -> Tensor {
    precondition(!xs.isEmpty, "concatFlattened needs at least one tensor")
    let n = xs[0].shape.first ?? 1
    precondition(xs.allSatisfy { ($0.shape.first ?? 1) == n }, "concatFlattened: batch sizes differ")
    let total = xs.reduce(0) { $0 + $1.count / max(n, 1) }
    var data = [Float]()
    data.reserveCapacity(n * total)
    for image in 0..<n {
        for x in xs {
            let per = x.count / max(n, 1)
            data.append(contentsOf: x.data[image * per..<(image + 1) * per])
        }
    }
    return Tensor(shape: [n, total], data: data)
}

/// `x.permute(0, 2, 3, 1).contiguous()`: `[N, C, H, W]` -> `[N, H, W, C]`.
///
/// SSD heads emit NCHW maps whose per-location predictions must be read channel-last.
public func nchwToNHWC(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "nchwToNHWC expects a rank-4 tensor, got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], hw = x.shape[2] * x.shape[3]
    var y = Tensor(zeros: [n, x.shape[2], x.shape[3], c])
    x.data.withUnsafeBufferPointer { xb in
        y.data.withUnsafeMutableBufferPointer { yb in
            guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
            for image in 0..<n {
                let src = xp + image * c * hw, dst = yp + image * c * hw
                for ch in 0..<c {
                    for i in 0..<hw { dst[i * c + ch] = src[ch * hw + i] }
                }
            }
        }
    }
    return y
}
