// 2-D convolution layer: parameters, shape rules and dispatch to the kernel that fits.
import COpenBLAS
import Synchronization

/// A 2-D convolution over NCHW tensors with a fused bias and activation epilogue.
///
/// Layouts: input `[N, C, H, W]`; `weight` `[O, C / groups, kH, kW]` (PyTorch's); `bias` `[O]`;
/// output `[N, O, OH, OW]` with `OH = (H + 2 * padding - dilation * (kH - 1) - 1) / stride + 1`
/// (likewise `OW`). Square stride, padding and dilation are what the SSD networks use.
///
/// The layer picks its kernel once, at init: a direct depthwise kernel when every group has one
/// input and one output channel, a GEMM straight on the input for 1x1 stride-1 unpadded convs, and
/// im2col + GEMM otherwise. Immutable, so one instance may serve many threads.
public final class Conv2D: Sendable {
    enum Kernel: Sendable { case depthwise, pointwise, im2col }

    /// The weight in its original `[O, C / groups, kH, kW]` layout (what quantizers read).
    public let weight: Tensor
    /// Per-output-channel bias `[O]`, or nil.
    public let bias: [Float]?
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    public let activation: Activation

    public let outChannels: Int
    public let inChannels: Int
    public let kernelH: Int
    public let kernelW: Int
    let kernel: Kernel
    /// Bias with nil replaced by zeros, so the epilogue has no branch.
    let biasOrZero: [Float]
    /// Whether the weight is packed for `packedGEMM` (every ungrouped GEMM convolution), which then replaces
    /// OpenBLAS.
    private let usesPackedKernel: Bool
    /// The packed weight, made on first use: a model the oneDNN engine runs never needs it (VGG16-SSD: ~100 MB).
    private let packedStorage = Mutex<PackedWeight?>(nil)

    /// The weight packed for `packedGEMM`, or nil when this conv does not use the packed kernel.
    var packed: PackedWeight? {
        guard usesPackedKernel else { return nil }
        return packedStorage.withLock { stored in
            if let stored { return stored }
            let made = weight.data.withUnsafeBufferPointer {
                PackedWeight($0.baseAddress!, m: outChannels, k: weight.shape[1] * kernelH * kernelW)
            }
            stored = made
            return made
        }
    }

    /// Creates a convolution.
    /// - Parameters:
    ///   - weight: `[O, C / groups, kH, kW]`; `O` must be divisible by `groups`.
    ///   - bias: `[O]` or nil.
    ///   - activation: Applied after the bias (fused into the kernel's write-back).
    public init(weight: Tensor, bias: [Float]?, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                groups: Int = 1, activation: Activation = .identity) {
        precondition(weight.rank == 4, "conv weight must be [O, C/groups, kH, kW], got \(weight.shape)")
        precondition(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1, "bad conv parameters")
        let o = weight.shape[0]
        precondition(o % groups == 0, "out channels \(o) not divisible by groups \(groups)")
        precondition(bias == nil || bias?.count == o, "bias must have \(o) entries")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.activation = activation
        self.outChannels = o
        self.inChannels = weight.shape[1] * groups
        self.kernelH = weight.shape[2]
        self.kernelW = weight.shape[3]
        self.biasOrZero = bias ?? [Float](repeating: 0, count: o)
        if weight.shape[1] == 1 && o == groups {
            kernel = .depthwise
        } else if kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0 {
            kernel = .pointwise
        } else {
            kernel = .im2col
        }
        let patchLength = weight.shape[1] * kernelH * kernelW
        usesPackedKernel = kernel != .depthwise && PackedWeight.handles(m: o, patchLength: patchLength, groups: groups)
    }

    /// The same convolution with another weight and bias (e.g. fake-quantized), same hyper-parameters.
    public func replacingWeight(_ w: Tensor, bias: [Float]?) -> Conv2D {
        precondition(w.shape == weight.shape, "replacement weight \(w.shape) != \(weight.shape)")
        return Conv2D(weight: w, bias: bias, stride: stride, padding: padding, dilation: dilation,
                      groups: groups, activation: activation)
    }

    /// The output shape `[N, O, OH, OW]` for an input shape `[N, C, H, W]`.
    public func outputShape(for input: [Int]) -> [Int] {
        precondition(input.count == 4 && input[1] == inChannels,
                     "conv expects [N, \(inChannels), H, W], got \(input)")
        let oh = (input[2] + 2 * padding - dilation * (kernelH - 1) - 1) / stride + 1
        let ow = (input[3] + 2 * padding - dilation * (kernelW - 1) - 1) / stride + 1
        precondition(oh > 0 && ow > 0, "conv input \(input) too small for its kernel")
        return [input[0], outChannels, oh, ow]
    }

    func geometry(for input: [Int]) -> ConvGeometry {
        let out = outputShape(for: input)
        return ConvGeometry(channels: inChannels / groups, height: input[2], width: input[3],
                            kernelH: kernelH, kernelW: kernelW, stride: stride, padding: padding,
                            dilation: dilation, outHeight: out[2], outWidth: out[3])
    }

    /// Convolves `x` into a fresh tensor.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = Tensor(shape: [0], data: [])
        var scratch: [Float] = []
        callAsFunction(x, into: &y, scratch: &scratch)
        return y
    }

    /// Convolves `x` into `y`, reusing `y`'s and `scratch`'s storage when they are large enough.
    ///
    /// Reusing both across images means no allocation per image once the buffers have grown.
    public func callAsFunction(_ x: Tensor, into y: inout Tensor, scratch: inout [Float]) {
        let outShape = outputShape(for: x.shape)
        y.reshapeForOutput(outShape)
        let g = geometry(for: x.shape)
        if y.count == 0 { return }
        switch kernel {
        case .depthwise:
            let needed = depthwiseScratchCount(g, planes: x.shape[0] * outChannels)
            if scratch.count < needed { scratch = [Float](repeating: 0, count: needed) }
            x.data.withUnsafeBufferPointer { xb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    biasOrZero.withUnsafeBufferPointer { bb in
                        weight.data.withUnsafeBufferPointer { wb in
                            guard let xp = xb.baseAddress, let yp = yb.baseAddress,
                                  let bp = bb.baseAddress, let wp = wb.baseAddress else { return }
                            scratch.withUnsafeMutableBufferPointer { sb in
                                depthwiseConv(x: xp, batch: x.shape[0], channels: outChannels, geometry: g,
                                              weight: wp, bias: bp, activation: activation, y: yp,
                                              scratch: sb.baseAddress)
                            }
                        }
                    }
                }
            }
        case .pointwise, .im2col:
            if let packed {
                packedConv(x, packed, geometry: g, into: &y, scratch: &scratch)
            } else {
                gemmConv(x, geometry: g, into: &y, scratch: &scratch)
            }
        }
    }

    /// Ungrouped GEMM convolutions through the packed-weight kernel (see `packedConvImage`).
    private func packedConv(_ x: Tensor, _ packed: PackedWeight, geometry g: ConvGeometry, into y: inout Tensor,
                            scratch: inout [Float]) {
        let n = g.outHeight * g.outWidth, hw = g.height * g.width
        let plan = PatchPlan(pointwise: kernel == .pointwise, patchLength: g.patchLength, columns: n)
        let needed = packedConvScratchCount(plan, weight: packed, columns: n)
        if scratch.count < needed { scratch = [Float](repeating: 0, count: needed) }
        let c = inChannels, o = outChannels, activation = self.activation
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    biasOrZero.withUnsafeBufferPointer { bb in
                        guard let xp = xb.baseAddress, let yp = yb.baseAddress, let sp = sb.baseAddress,
                              let bp = bb.baseAddress else { return }
                        for image in 0..<x.shape[0] {
                            packedConvImage(packed, bias: bp, x: xp + image * c * hw, geometry: g, plan: plan,
                                            y: yp + image * o * n, activation: activation, scratch: sp)
                        }
                    }
                }
            }
        }
    }

    /// The GEMM paths (1x1 direct, or im2col); see `gemmConvolution`.
    private func gemmConv(_ x: Tensor, geometry g: ConvGeometry, into y: inout Tensor, scratch: inout [Float]) {
        let n = g.outHeight * g.outWidth
        let plan = PatchPlan(pointwise: kernel == .pointwise, patchLength: g.patchLength, columns: n)
        let workers: Int
        if case .chunked(let width) = plan { workers = Runtime.workers(forPieces: (n + width - 1) / width) } else { workers = 1 }
        let needed = plan.scratchCount(patchLength: g.patchLength, columns: n, workers: workers)
        if scratch.count < needed { scratch = [Float](repeating: 0, count: needed) }
        let batch = x.shape[0], groups = self.groups, outChannels = self.outChannels, activation = self.activation
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    biasOrZero.withUnsafeBufferPointer { bb in
                        weight.data.withUnsafeBufferPointer { wb in
                            guard let xp = xb.baseAddress, let yp = yb.baseAddress,
                                  let bp = bb.baseAddress, let wp = wb.baseAddress else { return }
                            gemmConvolution(GEMMConvOperands(x: xp, weight: wp, bias: bp, y: yp, scratch: sb.baseAddress),
                                            batch: batch, groups: groups, outChannels: outChannels, geometry: g,
                                            plan: plan, activation: activation)
                        }
                    }
                }
            }
        }
    }
}
