// oneDNN (Debian's libdnnl) as a second executor: a forward pass compiled into a fixed list of primitives
// over NHWC activations. The C side (`CDNNL`) holds the primitives; this is its Swift face.
import CDNNL
import Foundation

/// A oneDNN failure while compiling or running a program; the message names the step.
public struct OneDNNError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
}

/// A tensor of a `OneDNNProgram`: `[1, channels, height, width]` stored NHWC (channels fastest).
public struct OneDNNTensor: Sendable, Equatable {
    /// What a tensor holds: floats, or the 8-bit codes an integer conv reads.
    public enum ElementType: Int32, Sendable {
        case f32 = 0, u8 = 1, s8 = 2
    }

    public let id: Int32
    public let slot: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public var elementType: ElementType = .f32
}

/// A fixed sequence of oneDNN convolutions and poolings over NHWC float32 activations, built once, run many
/// times. Tensors of the same slot share storage (a network ping-pongs between a few buffers); a tensor of slot
/// `OneDNNProgram.external` has no storage and reads/writes a caller pointer set with `bind` before each run.
///
/// Determinism: oneDNN's direct convolutions split work over output pixels and channels, never over the
/// reduction, so outputs do not depend on the thread count (tested with programs built for 1, 2 and 3 threads);
/// they differ from the native kernels in the
/// last bits (both within the parity tolerance of PyTorch). One program per concurrent caller.
public final class OneDNNProgram: @unchecked Sendable {
    public static let external = -1
    private let handle: OpaquePointer
    private var finalized = false

    /// The threads every primitive runs on (fixed at creation: oneDNN splits each primitive's work for it).
    public let threads: Int

    /// Whether eligible float convs (3x3, stride 1, padding 1, ungrouped, input channels a multiple of 8, no
    /// residual add) run as our Winograd F(2x2, 3x3) kernels instead of oneDNN's direct convolutions.
    public let winograd: Bool

    /// The Winograd choice of new programs: `MPQ_WINOGRAD=on|off` when set (on needs AVX2 + FMA), else on exactly
    /// when oneDNN may not use AVX-512 (an AVX2 CPU, or `DNNL_MAX_CPU_ISA=AVX2`): there it needs 2.25x fewer
    /// multiplications than oneDNN's AVX2 direct convs, while oneDNN's AVX-512 kernels beat it (docs/performance.md).
    public static let winogradDefault: Bool = {
        switch ProcessInfo.processInfo.environment["MPQ_WINOGRAD"] {
        case "on": return winogradSupported
        case "off": return false
        default: return mpq_dnnl_winograd_preferred() != 0
        }
    }()

    /// Whether this CPU can run the Winograd kernels (AVX2 and FMA).
    public static var winogradSupported: Bool { mpq_dnnl_winograd_supported() != 0 }

    /// Which ungrouped int8 convs with a u8 source and small weight codes (|code| <= 16, e.g. 4-bit) run as our
    /// AVX2 kernels with 16-bit partial sums instead of oneDNN's int8 kernels (the same exact sums, the same
    /// output bits; see `mpq_dnnl_int8_s16_supported`).
    public enum Int8S16: String, Sendable {
        /// None: oneDNN's int8 kernels.
        case off
        /// Those with at least 64 steps of 4 input channels per output (`kh · kw · ⌈ic / 4⌉`), where ours were
        /// faster on Zen 3 (1.05–1.3x); below, oneDNN's (up to 2x faster on few channels at high resolution).
        case on
        /// Every eligible conv (tests).
        case all
    }
    public let int8S16: Int8S16

    /// The choice of new programs: `MPQ_INT8_S16=on|off|all` when set (on and all need AVX2), else `on` exactly
    /// when oneDNN's int8 kernels lack VNNI (an AVX2 CPU such as Zen 3): there oneDNN spends two multiplier
    /// instructions per 32 products and ours about one; with VNNI oneDNN's kernels are faster
    /// (docs/int8-engine.md).
    public static let int8S16Default: Int8S16 = {
        if let s = ProcessInfo.processInfo.environment["MPQ_INT8_S16"], let mode = Int8S16(rawValue: s) {
            return int8S16Supported ? mode : .off
        }
        return mpq_dnnl_int8_s16_preferred() != 0 ? .on : .off
    }()

    /// Whether this CPU can run the 16-bit partial-sum int8 kernels (AVX2).
    public static var int8S16Supported: Bool { mpq_dnnl_int8_s16_supported() != 0 }

    /// Steps of 4 input channels whose products add up exactly in 16 bits for weight codes up to `maxAbsCode` in
    /// magnitude (u8 source codes up to 255); the kernels take a conv when it is at least 4.
    public static func int8S16Steps(maxAbsCode: Int) -> Int { Int(mpq_dnnl_int8_s16_steps(Int32(maxAbsCode))) }

    /// A program on `threads` threads; `winograd` (default `winogradDefault`) and `int8S16` (default
    /// `int8S16Default`) are ignored where unsupported.
    public init(threads: Int, winograd: Bool = OneDNNProgram.winogradDefault,
                int8S16: Int8S16 = OneDNNProgram.int8S16Default) throws {
        var err = [CChar](repeating: 0, count: 256)
        self.threads = max(1, threads)
        guard let h = mpq_dnnl_create(Int32(self.threads), &err, err.count) else {
            throw OneDNNError(description: String(cString: err))
        }
        handle = h
        self.winograd = winograd && Self.winogradSupported
        mpq_dnnl_set_winograd(h, self.winograd ? 1 : 0)
        self.int8S16 = Self.int8S16Supported ? int8S16 : .off
        switch self.int8S16 {
        case .off: mpq_dnnl_set_int8_s16(h, Int32(MPQ_DNNL_S16_OFF))
        case .on: mpq_dnnl_set_int8_s16(h, Int32(MPQ_DNNL_S16_FASTER))
        case .all: mpq_dnnl_set_int8_s16(h, Int32(MPQ_DNNL_S16_ALL))
        }
    }

    deinit { mpq_dnnl_destroy(handle) }

    private func check(_ result: Int32, _ err: [CChar], _ what: @autoclosure () -> String) throws -> Int32 {
        guard result >= 0 else { throw OneDNNError(description: "\(what()): \(String(cString: err))") }
        return result
    }

    /// A new tensor in `slot` (or `external`).
    public func tensor(slot: Int, channels: Int, height: Int, width: Int) throws -> OneDNNTensor {
        var err = [CChar](repeating: 0, count: 256)
        let id = try check(mpq_dnnl_tensor(handle, Int32(slot), Int32(channels), Int32(height), Int32(width),
                                           &err, err.count), err, "tensor [1, \(channels), \(height), \(width)]")
        return OneDNNTensor(id: id, slot: slot, channels: channels, height: height, width: width)
    }

    /// A tensor of 8-bit codes (or floats) in `slot` (`[1, channels, height, width]`, NHWC).
    public func tensor(slot: Int, channels: Int, height: Int, width: Int,
                       type: OneDNNTensor.ElementType) throws -> OneDNNTensor {
        var err = [CChar](repeating: 0, count: 256)
        let id = try check(mpq_dnnl_tensor_typed(handle, Int32(slot), Int32(channels), Int32(height), Int32(width),
                                                 type.rawValue, &err, err.count),
                           err, "tensor [1, \(channels), \(height), \(width)] \(type)")
        return OneDNNTensor(id: id, slot: slot, channels: channels, height: height, width: width, elementType: type)
    }

    /// Adds the integer conv `y <- act(scales[o] · Σ x·weight + bias[o])` (+ `y` with `accumulate`): `x` holds u8
    /// or s8 codes, `weight` s8 `[oc, ic/groups, kh, kw]`, the s32 accumulators are scaled per output channel on
    /// the way out, bias, activation and residual add fused; `outputGrid` also fake-quantizes the output for its
    /// only reader (ties to even). Returns the step index.
    @discardableResult
    public func int8Convolution(weight: [Int8], scales: [Float], bias: [Float]?, sourceZeroPoint: Int = 0,
                                groups: Int, kernel: Int,
                                stride: Int, padding: Int, dilation: Int, activation: Activation,
                                from x: OneDNNTensor, to y: OneDNNTensor, accumulate: Bool = false,
                                outputGrid: (scale: Float, qmin: Float, qmax: Float)? = nil,
                                name: String) throws -> Int32 {
        precondition(!finalized, "program already finalized")
        precondition(scales.count == y.channels && weight.count == y.channels * x.channels / groups * kernel * kernel,
                     "int8 conv \(name): weight or scales do not fit")
        var err = [CChar](repeating: 0, count: 256)
        let act: Int32
        switch activation {
        case .identity: act = Int32(MPQ_DNNL_IDENTITY)
        case .relu: act = Int32(MPQ_DNNL_RELU)
        case .relu6: act = Int32(MPQ_DNNL_RELU6)
        }
        let result = weight.withUnsafeBufferPointer { w in
            scales.withUnsafeBufferPointer { s in
                (bias ?? []).withUnsafeBufferPointer { b in
                    mpq_dnnl_conv_int8(handle, x.id, y.id, w.baseAddress, s.baseAddress, bias == nil ? nil : b.baseAddress,
                                       Int32(sourceZeroPoint), Int32(groups), Int32(kernel), Int32(kernel), Int32(stride), Int32(padding),
                                       Int32(dilation), act, accumulate ? 1 : 0, outputGrid?.scale ?? 0,
                                       outputGrid?.qmin ?? 0, outputGrid?.qmax ?? 0, &err, err.count)
                }
            }
        }
        return try check(result, err, "int8 conv \(name)")
    }

    /// Whether oneDNN's int8 kernels on this CPU use VNNI (exact s32 accumulation for any u8·s8 codes); without
    /// it pairs of products are added in s16 with saturation (`|x|·|w|·2 <= 32767` is exact).
    public static var hasVNNI: Bool { mpq_dnnl_has_vnni() != 0 }

    /// The storage of an internal tensor of any element type (after `finalize`).
    public func bytes(_ t: OneDNNTensor) -> UnsafeMutableRawPointer? { mpq_dnnl_bytes_of(handle, t.id) }

    /// A tensor in `slot` shaped like `conv`'s output for `x`.
    public func output(of conv: Conv2D, for x: OneDNNTensor, slot: Int) throws -> OneDNNTensor {
        let s = conv.outputShape(for: [1, x.channels, x.height, x.width])
        return try tensor(slot: slot, channels: s[1], height: s[2], width: s[3])
    }

    /// Adds `y <- conv(x)` (bias and activation fused); with `accumulate`, `y <- conv(x) + y` (a residual add
    /// into the tensor already in `y`; the conv's activation must be identity). Returns the step index.
    @discardableResult
    public func convolution(_ conv: Conv2D, from x: OneDNNTensor, to y: OneDNNTensor, accumulate: Bool = false,
                            name: String) throws -> Int32 {
        precondition(!finalized, "program already finalized")
        var err = [CChar](repeating: 0, count: 256)
        let activation: Int32
        switch conv.activation {
        case .identity: activation = Int32(MPQ_DNNL_IDENTITY)
        case .relu: activation = Int32(MPQ_DNNL_RELU)
        case .relu6: activation = Int32(MPQ_DNNL_RELU6)
        }
        guard conv.dilation * (conv.kernelH - 1) < x.height + 2 * conv.padding else {
            throw OneDNNError(description: "conv \(name): kernel larger than its padded input")
        }
        let result = conv.weight.data.withUnsafeBufferPointer { w in
            conv.biasOrZero.withUnsafeBufferPointer { b in
                mpq_dnnl_conv(handle, x.id, y.id, w.baseAddress, b.baseAddress, Int32(conv.groups),
                              Int32(conv.kernelH), Int32(conv.kernelW), Int32(conv.stride), Int32(conv.padding),
                              Int32(conv.dilation), activation, accumulate ? 1 : 0, &err, err.count)
            }
        }
        return try check(result, err, "conv \(name)")
    }

    /// Adds `y <- maxPool(x)` with PyTorch's padding and ceil-mode rules. Returns the step index.
    @discardableResult
    public func maxPool(_ pool: MaxPool2D, from x: OneDNNTensor, to y: OneDNNTensor) throws -> Int32 {
        precondition(!finalized, "program already finalized")
        var err = [CChar](repeating: 0, count: 256)
        // The windows PyTorch takes: the output extent fixes the right/bottom padding (ceil mode may need more
        // than `padding` there; padded positions never win).
        let bottom = (y.height - 1) * pool.stride + pool.kernel - x.height - pool.padding
        let right = (y.width - 1) * pool.stride + pool.kernel - x.width - pool.padding
        let result = mpq_dnnl_max_pool(handle, x.id, y.id, Int32(pool.kernel), Int32(pool.stride),
                                       Int32(pool.padding), Int32(pool.padding), Int32(max(0, bottom)),
                                       Int32(max(0, right)), &err, err.count)
        return try check(result, err, "max pool \(pool.kernel)x\(pool.kernel)")
    }

    /// Allocates the slots; no steps can be added afterwards.
    public func finalize() throws {
        var err = [CChar](repeating: 0, count: 256)
        _ = try check(mpq_dnnl_finalize(handle, &err, err.count), err, "finalize")
        finalized = true
    }

    /// The storage of an internal tensor (after `finalize`), or the pointer last bound to an external one.
    public func data(_ t: OneDNNTensor) -> UnsafeMutablePointer<Float>? { mpq_dnnl_data(handle, t.id) }

    /// Points an external tensor at caller memory (`channels * height * width` floats, NHWC).
    public func bind(_ t: OneDNNTensor, to pointer: UnsafeMutablePointer<Float>) {
        mpq_dnnl_set_data(handle, t.id, pointer)
    }

    /// Runs step `index` on the program's threads.
    public func execute(_ index: Int32) throws {
        var err = [CChar](repeating: 0, count: 256)
        _ = try check(mpq_dnnl_execute(handle, index, &err, err.count), err, "step \(index)")
    }

    /// The implementation oneDNN picked for step `index` (e.g. `brgconv:avx512_core`; `ref:any` is its slow
    /// reference code).
    public func implementation(_ index: Int32) -> String { String(cString: mpq_dnnl_implementation(handle, index)) }

    /// Bytes held: activation slots, reordered weights, scratchpad.
    public var bytes: Int { Int(mpq_dnnl_bytes(handle)) }
}

/// NCHW `[C, H, W]` to NHWC.
public func nchwToNHWC(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels c: Int, pixels hw: Int) {
    for ch in 0..<c {
        let row = x + ch * hw
        for i in 0..<hw { y[i * c + ch] = row[i] }
    }
}

/// NHWC `[H, W, C]` to NCHW (the inverse of `nchwToNHWC`).
public func nhwcToNCHW(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels c: Int, pixels hw: Int) {
    for p in 0..<hw {
        let pixel = x + p * c
        for ch in 0..<c { y[ch * hw + p] = pixel[ch] }
    }
}
