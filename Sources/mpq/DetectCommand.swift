import ArgumentParser
import Checkpoints
import Foundation
import Quantization
import SSD
import Tensors
import Imaging
import VOC
import Workflows


/// `mpq detect`: run a detector on images and print, save or draw its detections.
struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in JPEG images with an SSD checkpoint.",
        discussion: """
        The model file may be a PyTorch .pth (legacy or zip format) or a safetensors file from \
        qfgaohao/pytorch-ssd (mb2-ssd-lite, mb1-ssd, vgg16-ssd) or amdegroot/ssd.pytorch (ssd300-vgg16). The \
        architecture is recognised from the tensor names and the class count from the head shapes; BatchNorm is \
        folded at load. Each image is processed as the reference predictors do: resize to 300x300 (OpenCV \
        bilinear on 8-bit pixels), normalise, run the network, softmax, decode boxes, per-class NMS (IoU 0.45, \
        top 200 per class). Boxes are in pixels of the original image (0-based, continuous). Without --model the \
        embedded demo detector is used (said in one line). Quantized model files from mpq quantize run as saved.

        JSON shape (--json): [{"image": "<path>", "width": W, "height": H, "detections": [{"class": "dog", \
        "class_index": 11, "score": 0.93, "box": [x1, y1, x2, y2]}]}], class_index 0-based without background.

        Examples:
          mpq detect --model mb2-ssd-lite-mp-0_686.pth \\
              VOCdevkit/VOC2007/JPEGImages/000001.jpg
          mpq detect VOCdevkit/MPQDemo/JPEGImages/000001.jpg
          mpq detect --model ssd300_mAP_77.43_v2.pth --draw out/ \\
              --json out/detections.json a.jpg b.jpg
          mpq detect --model model.pth --arch mb1-ssd --score-threshold 0.01 \\
              --dump-raw raw.safetensors a.jpg
          mpq detect --model my-model.pth --classes names.txt a.jpg
        """
    )

    @OptionGroup var modelOption: ModelOption
    var model: String? { modelOption.model }

    @Option(help: ArgumentHelp("Force the architecture instead of recognising it from the tensor names "
        + "(mb2-ssd-lite, mb1-ssd, vgg16-ssd, ssd300-vgg16).", valueName: "name"))
    var arch: Architecture?

    @Argument(help: ArgumentHelp("One or more JPEG images.", valueName: "image"))
    var images: [String] = []

    @Option(help: ArgumentHelp("Report detections whose score is above this value, between 0 and 1 "
        + "(0.01 reproduces the reference evaluation's candidates).", valueName: "p"))
    var scoreThreshold: Float = 0.3

    @Option(help: ArgumentHelp("A class list file (one class per line, # comments) naming the model's classes, "
        + "background excluded; default: the names a quantized file keeps, else the demo's or the 20 VOC classes.",
        valueName: "file"))
    var classes: String?

    @OptionGroup var engineOption: EngineOption
    var engine: QuantizedEngine { engineOption.engine }

    @Option(help: ArgumentHelp("Write the detections as JSON to this file, or to standard output with '-' "
        + "(then the text listing is not printed).", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write each image with its labelled boxes as a PNG into this folder.",
                               valueName: "dir"))
    var draw: String?

    @Option(help: ArgumentHelp("Write the first image's softmax scores [priors, classes] and decoded boxes "
        + "[priors, 4] (normalised corners, unclipped) to this safetensors file.", valueName: "file"))
    var dumpRaw: String?

    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("Give at least one image to detect objects in.") }
        guard scoreThreshold >= 0 && scoreThreshold < 1 else {
            throw ValidationError("--score-threshold must be at least 0 and below 1, got \(scoreThreshold).")
        }
        for (name, value) in [("--json", json), ("--draw", draw), ("--dump-raw", dumpRaw)] where value?.isEmpty == true {
            throw ValidationError("\(name) needs a path.")
        }
    }

    /// The names to print: `--classes`, else those a quantized file keeps, else the demo dataset's for the
    /// embedded detector (it sits in <dataset>/model/), else VOC's when the count matches, else "class N".
    func classNames(for model: SSDModel, file: QuantizedFile?, modelURL: URL) throws -> [String] {
        try Self.classNames(for: model, file: file, modelURL: modelURL, classesFile: classes,
                            embedded: self.model == nil)
    }

    /// `classNames(for:file:modelURL:)` for any command: `classesFile` is its `--classes`, `embedded` whether
    /// the model is the embedded demo detector.
    static func classNames(for model: SSDModel, file: QuantizedFile?, modelURL: URL, classesFile classes: String?,
                           embedded: Bool) throws -> [String] {
        let count = model.classes - 1
        if let classes {
            let list = try ClassList(contentsOf: URL(fileURLWithPath: classes))
            guard list.count == count else {
                throw ValidationError("\(classes): \(list.count) classes, but the model has \(count) (background excluded).")
            }
            return list.names
        }
        if let kept = file?.info.classNames, kept.count == count { return kept }
        let demoClasses = embedded
            ? try? ClassList.forDataset(root: modelURL.deletingLastPathComponent().deletingLastPathComponent()) : nil
        if let demo = demoClasses, demo.count == count { return demo.names }
        return count == ClassList.voc.count ? ClassList.voc.names : (1...max(count, 1)).map { "class \($0)" }
    }

    struct ImageResult: Encodable {
        struct Item: Encodable {
            let `class`: String
            let classIndex: Int
            let score: Float
            let box: [Float]
            enum CodingKeys: String, CodingKey { case `class`, classIndex = "class_index", score, box }
        }
        let image: String
        let width: Int
        let height: Int
        let detections: [Item]
    }

    func run() throws {
        Runtime.setThreads(threads)
        let modelURL = try EmbeddedDemo.resolve(model: model, vocRoot: nil, datasetNeeded: false).model
        let model = modelURL.path
        let file = try QuantizedFile.load(modelURL, architecture: arch)
        let loaded = file.model
        let (quantization, notice) = file.quantized?.execution(engine) ?? (nil, nil)
        if let notice { Output.note("\(model): \(notice)") }
        Output.note("\(model): \(loaded.architecture.rawValue), \(loaded.classes) classes (background included), "
                    + "\(file.format.rawValue)")
        let names = try classNames(for: loaded, file: file.quantized, modelURL: modelURL)
        var detector = Detector(model: loaded, quantization: quantization)
        var results: [ImageResult] = []
        var usedNames = Set<String>()
        for (n, path) in images.enumerated() {
            var image = try JPEGDecoder.decode(fileAt: URL(fileURLWithPath: path))
            let detections: [Detection]
            if n == 0, let dumpRaw {
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
            if json != "-" {
                print("\(path): \(items.count) detection\(items.count == 1 ? "" : "s")")
                for item in items {
                    let box = item.box.map { String(format: "%.1f", $0) }.joined(separator: ", ")
                    print("  \(item.class) \(String(format: "%.3f", item.score)) [\(box)]")
                }
            }
            if let draw {
                DetectionOverlay.draw(detections, names: names, on: &image)
                var stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                if usedNames.contains(stem) { stem += "-\(n)" }
                usedNames.insert(stem)
                let out = URL(fileURLWithPath: draw).appendingPathComponent(stem + ".png")
                try Output.write(PNGEncoder.encode(image), to: out.path)
            }
        }
        if let json { try Output.writeJSON(results, to: json) }
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
}
