import Tensors
import Imaging
import Evaluation
import VOC

extension Architecture {
    /// Input normalisation of the reference predictor (after the uint8 INTER_LINEAR resize to 300x300).
    public var preprocessing: PreprocessPreset {
        switch self {
        case .mb2SSDLite, .mb1SSD: return .mobilenet
        case .vgg16SSD: return .vgg16SSD
        case .ssd300VGG16: return .ssd300
        }
    }
}

/// Image in, detections out, as the reference predictors do it: resize to 300x300 on uint8 (OpenCV
/// INTER_LINEAR, aspect ratio ignored), normalise per `architecture.preprocessing`, run the network, softmax,
/// decode boxes, per-class NMS, scale boxes to the original image. Buffers are reused across images; one
/// `Detector` per thread.
public struct Detector {
    public private(set) var model: SSDModel
    private var workspace = SSDWorkspace()
    private var scratch = PreprocessScratch()
    private var input = Tensor(zeros: [1, 3, SSDModel.inputSize, SSDModel.inputSize])
    private var head: HeadOutputs
    private var scores: [Float] = []
    private var boxes: [Float] = []
    /// Applied at every conv input unless a call passes its own (runs the native engine).
    public var hook: ConvInputHook?
    /// Fake quantization of conv inputs (an activation-quantized model, e.g. a quantized file); both engines.
    public var quantization: InputQuantization?

    /// - Parameter engine: the executor (default: oneDNN where available, see `ForwardEngine.default`).
    public init(model: SSDModel, hook: ConvInputHook? = nil, quantization: InputQuantization? = nil,
                engine: ForwardEngine = .default) {
        self.model = model
        self.hook = hook
        self.quantization = quantization
        workspace = SSDWorkspace(engine: engine)
        head = HeadOutputs(priors: model.priors.count, classes: model.classes)
    }

    /// The network input for `image`: `[1, 3, 300, 300]` float32 CHW.
    public mutating func preprocessed(_ image: RGBImage) -> Tensor {
        let size = SSDModel.inputSize, preset = model.architecture.preprocessing
        input.data.withUnsafeMutableBufferPointer { buffer in
            preprocess(image, size: size, preset: preset, into: buffer, scratch: &scratch)
        }
        return input
    }

    /// Raw head outputs for `image` (logits and offsets), with an optional conv input hook (default: `self.hook`).
    public mutating func headOutputs(_ image: RGBImage, hook: ConvInputHook? = nil) -> HeadOutputs {
        headOutputs(preprocessed: preprocessed(image), hook: hook)
    }

    /// Raw head outputs of an input already preprocessed (`preprocessed(_:)`; images kept in memory).
    public mutating func headOutputs(preprocessed x: Tensor, hook: ConvInputHook? = nil) -> HeadOutputs {
        model.forward(x, into: &head, workspace: &workspace, hook: hook ?? self.hook, quantization: quantization)
        return head
    }

    /// Softmax scores `[P, C]` and decoded normalised corner boxes `[P, 4]` for `image`.
    public mutating func scoresAndBoxes(_ image: RGBImage) -> (scores: [Float], boxes: [Float]) {
        let outputs = headOutputs(image)
        model.scoresAndBoxes(outputs, scores: &scores, boxes: &boxes)
        return (scores, boxes)
    }

    /// The detections of `image` in its pixel coordinates.
    /// - Parameter scoreThreshold: NMS candidates need a score above it (the reference evaluation uses 0.01;
    ///   greedy NMS makes a higher threshold equal to filtering the 0.01 result).
    public mutating func detect(_ image: RGBImage, scoreThreshold: Float = 0.01) -> [Detection] {
        detect(preprocessed: preprocessed(image), width: image.width, height: image.height,
               scoreThreshold: scoreThreshold)
    }

    /// The detections of an already preprocessed input, in the pixel coordinates of a `width` x `height` image.
    public mutating func detect(preprocessed x: Tensor, width: Int, height: Int,
                                scoreThreshold: Float = 0.01) -> [Detection] {
        let outputs = headOutputs(preprocessed: x)
        return detections(outputs, width: width, height: height, scoreThreshold: scoreThreshold)
    }

    /// Softmax, box decoding and per-class NMS of raw head outputs, boxes in a `width` x `height` image.
    public mutating func detections(_ outputs: HeadOutputs, width: Int, height: Int,
                                    scoreThreshold: Float = 0.01) -> [Detection] {
        model.scoresAndBoxes(outputs, scores: &scores, boxes: &boxes)
        return model.detections(scores: scores, boxes: boxes, width: width, height: height,
                                scoreThreshold: scoreThreshold)
    }
}
