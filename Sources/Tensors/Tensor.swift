// Dense float32 tensors: the value type every kernel in this module reads and writes.

/// A dense, row-major float32 tensor.
///
/// Images use NCHW layout `[batch, channels, height, width]`; convolution weights use PyTorch's
/// `[out, in / groups, kernelH, kernelW]`. The element at index `(i0, i1, ..., ik)` lives at
/// `data[((i0 * shape[1] + i1) * shape[2] + ...) + ik]`.
public struct Tensor: Sendable, Equatable {
    /// The extent of each axis, outermost first.
    public var shape: [Int]
    /// The elements in row-major order; `data.count == shape.reduce(1, *)`.
    public var data: [Float]

    /// Wraps existing elements.
    /// - Parameters:
    ///   - shape: The extent of each axis; every entry must be non-negative.
    ///   - data: Row-major elements; the count must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        precondition(shape.reduce(1, *) == data.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of the given shape filled with zeros.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// The number of elements.
    public var count: Int { data.count }

    /// Number of axes.
    public var rank: Int { shape.count }

    /// Changes the shape in place, reusing the existing storage when the element count allows it.
    ///
    /// Kernels call this on their output buffers so that a buffer reused across images is only
    /// reallocated when the shape actually grows; the contents are unspecified afterwards.
    public mutating func reshapeForOutput(_ newShape: [Int]) {
        if shape != newShape { shape = newShape }
        let n = newShape.reduce(1, *)
        if data.count != n {
            if data.count > n {
                data.removeLast(data.count - n)
            } else {
                // Chunks of a shared zero block: a memcpy each, where appending `repeatElement` ran an
                // element-by-element loop (~5% of a MobileNet forward pass, whose buffers regrow per layer).
                while data.count < n {
                    data.append(contentsOf: zeroBlock[0..<min(zeroBlock.count, n - data.count)])
                }
            }
        }
    }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }
}

/// Zeros that `reshapeForOutput` copies from (256 KB).
private let zeroBlock = [Float](repeating: 0, count: 1 << 16)
