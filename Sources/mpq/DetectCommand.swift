import ArgumentParser
import Foundation
import SSD
import Tensors
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

    /// The job's settings from the flags.
    var jobOptions: DetectJob.Options {
        var o = DetectJob.Options()
        o.model = model
        o.architecture = arch
        o.images = images
        o.scoreThreshold = scoreThreshold
        o.classes = classes
        o.engine = engine
        o.draw = draw
        o.dumpRaw = dumpRaw
        return o
    }

    func run() throws {
        Runtime.setThreads(threads)
        let results = try asUsageError {
            try DetectJob(jobOptions).run { result in
                guard json != "-" else { return }
                let count = result.detections.count
                print("\(result.image): \(count) detection\(count == 1 ? "" : "s")")
                for item in result.detections {
                    let box = item.box.map { String(format: "%.1f", $0) }.joined(separator: ", ")
                    print("  \(item.class) \(String(format: "%.3f", item.score)) [\(box)]")
                }
            }
        }
        if let json { try Output.writeJSON(results, to: json) }
    }
}
