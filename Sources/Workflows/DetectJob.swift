import Checkpoints
import Foundation
import Imaging
import SSD
import VOC

/// Everything `mpq detect` does between parsing and printing: load the detector, run it on each image, draw the
/// overlays and dump the first image's raw outputs.
public struct DetectJob {
    /// The command's settings, validated by the CLI.
    public struct Options {
        public var model: String?
        public var architecture: Architecture?
        public var images: [String] = []
        public var scoreThreshold: Float = 0.3
        /// A class list file naming the classes.
        public var classes: String?
        public var engine: QuantizedEngine = .int8
        /// The folder of the PNG overlays.
        public var draw: String?
        /// The safetensors file of the first image's scores and boxes.
        public var dumpRaw: String?

        public init() {}
    }

    public struct ImageResult: Encodable {
        public struct Item: Encodable {
            public let `class`: String
            let classIndex: Int
            public let score: Float
            public let box: [Float]
            enum CodingKeys: String, CodingKey { case `class`, classIndex = "class_index", score, box }
        }
        public let image: String
        public let width: Int
        public let height: Int
        public let detections: [Item]
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// Detects objects in every image in order; `each` is told each image's result as soon as it is done.
    /// - Throws: `OptionsError` for a `--classes` file that does not match the model; the errors of loading,
    ///   decoding and writing.
    public func run(note: (String) -> Void = Output.note, each: (ImageResult) -> Void) throws -> [ImageResult] {
        let o = options, images = o.images, scoreThreshold = o.scoreThreshold
        let modelURL = try EmbeddedDemo.resolve(model: o.model, vocRoot: nil, datasetNeeded: false).model
        let model = modelURL.path
        let file = try QuantizedFile.load(modelURL, architecture: o.architecture)
        let loaded = file.model
        let (quantization, notice) = file.quantized?.execution(o.engine) ?? (nil, nil)
        if let notice { note("\(model): \(notice)") }
        note("\(model): \(loaded.architecture.rawValue), \(loaded.classes) classes (background included), "
            + "\(file.format.rawValue)")
        let names = try Self.classNames(for: loaded, file: file.quantized, modelURL: modelURL, classesFile: o.classes,
                                        embedded: o.model == nil)
        var detector = Detector(model: loaded, quantization: quantization)
        var results: [ImageResult] = []
        var usedNames = Set<String>()
        for (n, path) in images.enumerated() {
            var image = try JPEGDecoder.decode(fileAt: URL(fileURLWithPath: path))
            let detections: [Detection]
            if n == 0, let dumpRaw = o.dumpRaw {
                let (scores, boxes) = detector.scoresAndBoxes(image)
                try writeRaw(scores: scores, boxes: boxes, model: loaded, image: path, to: dumpRaw)
                detections = loaded.detections(scores: scores, boxes: boxes, width: image.width, height: image.height,
                                               scoreThreshold: scoreThreshold)
            } else {
                detections = detector.detect(image, scoreThreshold: scoreThreshold)
            }
            let items = detections.map {
                ImageResult.Item(class: names[$0.classIndex], classIndex: $0.classIndex, score: $0.score,
                                 box: [$0.x1, $0.y1, $0.x2, $0.y2])
            }
            results.append(ImageResult(image: path, width: image.width, height: image.height, detections: items))
            each(results[results.count - 1])
            if let draw = o.draw {
                DetectionOverlay.draw(detections, names: names, on: &image)
                var stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                if usedNames.contains(stem) { stem += "-\(n)" }
                usedNames.insert(stem)
                let out = URL(fileURLWithPath: draw).appendingPathComponent(stem + ".png")
                try Output.write(PNGEncoder.encode(image), to: out.path)
            }
        }
        return results
    }

    private func writeRaw(scores: [Float], boxes: [Float], model: SSDModel, image: String, to path: String) throws {
        let priors = model.priors.count
        try SafeTensors.write(tensors: [
            ("scores", StoredTensor(floats: scores, shape: [priors, model.classes])),
            ("boxes", StoredTensor(floats: boxes, shape: [priors, 4])),
        ], metadata: ["architecture": model.architecture.rawValue, "image": image,
                      "boxes": "x1,y1,x2,y2 normalised, unclipped", "scores": "softmax"],
        to: URL(fileURLWithPath: path))
    }

    /// The names to print: `classesFile` (`--classes`), else those a quantized file keeps, else the demo
    /// dataset's for the embedded detector (`embedded`: it sits in <dataset>/model/), else VOC's when the count
    /// matches, else "class N".
    /// - Throws: `OptionsError` when `classesFile` has another number of classes than the model.
    public static func classNames(for model: SSDModel, file: QuantizedFile?, modelURL: URL,
                                  classesFile classes: String?, embedded: Bool) throws -> [String] {
        let count = model.classes - 1
        if let classes {
            let list = try ClassList(contentsOf: URL(fileURLWithPath: classes))
            guard list.count == count else {
                throw OptionsError("\(classes): \(list.count) classes, but the model has \(count) (background "
                    + "excluded).")
            }
            return list.names
        }
        if let kept = file?.info.classNames, kept.count == count { return kept }
        let demoClasses = embedded
            ? try? ClassList.forDataset(root: modelURL.deletingLastPathComponent().deletingLastPathComponent()) : nil
        if let demo = demoClasses, demo.count == count { return demo.names }
        return count == ClassList.voc.count ? ClassList.voc.names : (1...max(count, 1)).map { "class \($0)" }
    }
}
