import Foundation
import SSD
import Tensors
import Evaluation
import Imaging
import Parallelism
import VOC

/// Images decoded and preprocessed once, kept in memory, so the many forward passes of a sensitivity run (one
/// per layer, bit width and image) never decode a JPEG again.
///
/// `inputs[i]` is `[1, 3, 300, 300]` float32 CHW normalised for the model's architecture; `sizes[i]` the original
/// width and height (detections are scaled back to them).
public struct PreparedImages: Sendable {
    public let ids: [String]
    public let inputs: [Tensor]
    public let sizes: [(width: Int, height: Int)]

    public var count: Int { ids.count }

    /// Decodes `<root>/JPEGImages/<id>.jpg` for each id (in parallel, results in id order).
    /// - Throws: the `ImageError` of the first unreadable image in id order.
    public init(dataset: VOCDataset, ids: [String], architecture: Architecture, threads: Int) throws {
        let preset = architecture.preprocessing
        let results: [Result<(Tensor, Int, Int), Error>] = OrderedParallel.map(count: ids.count, threads: threads) { i in
            do {
                let image = try JPEGDecoder.decode(fileAt: dataset.imageURL(ids[i]))
                let size = SSDModel.inputSize
                let data = preprocess(image, size: size, preset: preset)
                return .success((Tensor(shape: [1, 3, size, size], data: data), image.width, image.height))
            } catch {
                return .failure(error)
            }
        }
        var inputs: [Tensor] = [], sizes: [(width: Int, height: Int)] = []
        for r in results {
            let (t, w, h) = try r.get()
            inputs.append(t)
            sizes.append((w, h))
        }
        self.ids = ids
        self.inputs = inputs
        self.sizes = sizes
    }

    /// Already preprocessed inputs (tests).
    public init(ids: [String], inputs: [Tensor], sizes: [(width: Int, height: Int)]) {
        precondition(ids.count == inputs.count && ids.count == sizes.count, "one input and size per id")
        self.ids = ids
        self.inputs = inputs
        self.sizes = sizes
    }
}

/// mAP and detector-output SQNR of a (possibly quantized) model on prepared images.
public enum ModelScoring {
    /// Raw head outputs of every image (float reference for SQNR), images in order.
    /// - Parameter engine: the executor; the same as the staged passes the outputs are compared with, so that an
    ///   unchanged model gives identical bits.
    public static func headOutputs(_ model: SSDModel, images: PreparedImages, hook: ConvInputHook? = nil,
                                   quantization: InputQuantization? = nil,
                                   engine: ForwardEngine = .default) -> [HeadOutputs] {
        var workspace = SSDWorkspace(engine: engine)
        return images.inputs.map { model.forward($0, workspace: &workspace, hook: hook, quantization: quantization) }
    }

    /// Detections of each image (reference post-processing, score > 0.01), in pixel coordinates.
    public static func detections(_ model: SSDModel, images: PreparedImages, hook: ConvInputHook? = nil,
                                  quantization: InputQuantization? = nil, engine: ForwardEngine = .default,
                                  progress: ((Int) -> Void)? = nil) -> [[Detection]] {
        var detector = Detector(model: model, hook: hook, quantization: quantization, engine: engine)
        var out: [[Detection]] = []
        for (i, input) in images.inputs.enumerated() {
            out.append(detector.detect(preprocessed: input, width: images.sizes[i].width,
                                       height: images.sizes[i].height))
            progress?(i + 1)
        }
        return out
    }

    /// Detections of one image's raw head outputs, in the pixel coordinates of an image of `size`.
    public static func detections(_ model: SSDModel, outputs: HeadOutputs, size: (width: Int, height: Int)) -> [Detection] {
        let (scores, boxes) = model.scoresAndBoxes(outputs)
        return model.detections(scores: scores, boxes: boxes, width: size.width, height: size.height)
    }

    /// VOC mAP of per-image detections against `groundTruth` (whose image ids must be `images.ids`, in order).
    ///
    /// Boxes go to the evaluator exactly as a result file would carry them (`Float` coordinate + 1, the devkit's
    /// 1-based pixels, then widened to Double), so the value equals what `mpq evaluate-detections` reports for
    /// the same detections.
    public static func meanAP(_ detections: [[Detection]], groundTruth: GroundTruth, metric: APMetric = .voc07,
                              protocol evaluationProtocol: EvaluationProtocol = .devkit) -> Double {
        let result = DetectionEvaluator.evaluate(groundTruth: groundTruth,
                                                 detections: scoredBoxes(detections, classCount: groundTruth.classNames.count),
                                                 metric: metric, protocol: evaluationProtocol)
        return result.mAP ?? 0
    }

    /// Per-image detections (image `i` = position `i` of the ground truth) as the evaluator's per-class lists,
    /// boxes exactly as a result file would carry them (`Float` coordinate + 1, then widened to Double), images in
    /// order: what `meanAP` scores and what `MAPBootstrap` resamples.
    public static func scoredBoxes(_ detections: [[Detection]], classCount: Int) -> [[ScoredBox]] {
        var perClass = [[ScoredBox]](repeating: [], count: classCount)
        for (i, list) in detections.enumerated() {
            for d in list where perClass.indices.contains(d.classIndex) {
                perClass[d.classIndex].append(ScoredBox(imageIndex: i, score: Double(d.score), x1: Double(d.x1 + 1),
                                                        y1: Double(d.y1 + 1), x2: Double(d.x2 + 1),
                                                        y2: Double(d.y2 + 1)))
            }
        }
        return perClass
    }

    /// Signal-to-quantization-noise ratio of the raw head outputs (class logits and box offsets together),
    /// summed over images: `10 log10(Σ ||y||² / Σ ||ŷ - y||²)` in dB; `+inf` when the outputs are identical.
    public static func sqnr(reference: [HeadOutputs], quantized: [HeadOutputs]) -> Double {
        precondition(reference.count == quantized.count, "one quantized output per reference output")
        var signal = 0.0, noise = 0.0
        for (r, q) in zip(reference, quantized) {
            for (a, b) in zip(r.confidences, q.confidences) {
                signal += Double(a) * Double(a)
                noise += (Double(b) - Double(a)) * (Double(b) - Double(a))
            }
            for (a, b) in zip(r.locations, q.locations) {
                signal += Double(a) * Double(a)
                noise += (Double(b) - Double(a)) * (Double(b) - Double(a))
            }
        }
        guard noise > 0 else { return .infinity }
        return 10 * log10(signal / noise)
    }
}
