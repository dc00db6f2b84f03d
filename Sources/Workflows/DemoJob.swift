import Foundation
import Quantization
import SSD
import Evaluation
import VOC

/// The steps of `mpq demo`: float mAP, four quantized runs (rtn and multipoint at 4 and 3 bits, activations
/// 8 bits), a small sensitivity report, then `summary.json` and `report.html`.
public struct DemoJob {
    let inputs: JobInputs
    let out: URL
    let limit: Int?
    let threads: Int
    /// The `--bootstrap` / `--seed` settings.
    let bootstrap: BootstrapPlan
    var engine: QuantizedEngine = .int8

    public init(inputs: JobInputs, out: URL, limit: Int?, threads: Int, bootstrap: BootstrapPlan,
                engine: QuantizedEngine = .int8) {
        self.inputs = inputs
        self.out = out
        self.limit = limit
        self.threads = threads
        self.bootstrap = bootstrap
        self.engine = engine
    }

    /// One quantized configuration: rtn at `wbits` (average bits = wbits) or multipoint on the `wbits` grid
    /// with a budget of `wbits + 0.25` average bits (about one extra point for every 16 channels' worth of weights).
    struct Config {
        let method: WeightQuantizationMethod
        let wbits: Int
        var budget: Double? { method == .multipoint ? Double(wbits) + 0.25 : nil }
    }

    static let configs = [Config(method: .rtn, wbits: 4), Config(method: .multipoint, wbits: 4),
                          Config(method: .rtn, wbits: 3), Config(method: .multipoint, wbits: 3)]
    static let activationBits = 8

    public struct Result {
        public let summary: DemoSummary
        public let sensitivity: SensitivityReport
        let settings: [(String, String)]
    }

    public func run() throws -> Result {
        let start = Date()
        let eval = try SensitivityJob.evaluationSet(inputs, split: "test", count: limit ?? Int.max, threads: threads)
        let calibCount = limit.map { max(2, min(4, $0)) } ?? 64
        let calib = try SensitivityJob.calibrationSet(inputs, split: "trainval", count: calibCount,
                                                      excluding: Set(eval.images.ids), preferCalibFile: true,
                                                      threads: threads)
        Output.note("demo: \(eval.images.count) test images; calibration on \(calib.source)")

        var bar = StepProgress("calibration")
        let stats = try CalibrationStatistics.collect(model: inputs.model, images: calib.images, collectGrams: true) {
            bar.update($0, of: calib.images.count)
        }

        bar = StepProgress("float model")
        // Each model's matched detections go to the paired bootstrap (no boxes kept).
        var paired = MAPBootstrap.Models(groundTruth: eval.truth, protocol: .devkit)
        let classCount = eval.truth.classNames.count
        let floatDetections = ModelScoring.detections(inputs.model, images: eval.images, progress: {
            bar.update($0, of: eval.images.count)
        })
        let floatMAP = ModelScoring.meanAP(floatDetections, groundTruth: eval.truth)
        if bootstrap.resamples > 0 { paired.add(ModelScoring.scoredBoxes(floatDetections, classCount: classCount)) }

        var runs: [DemoSummary.Run] = []
        for config in Self.configs {
            let label = "\(config.method.rawValue) w\(config.wbits)a\(Self.activationBits)"
            let q = try ModelQuantizer.quantize(model: inputs.model, statistics: stats, options: .init(
                method: config.method, weightBits: config.wbits, activationBits: Self.activationBits,
                budget: config.budget.map { .averageBits($0) }, threads: threads))
            bar = StepProgress(label.padding(toLength: 16, withPad: " ", startingAt: 0))
            let detections = ModelScoring.detections(q.model, images: eval.images,
                                                     quantization: q.execution(engine).quantization,
                                                     progress: { bar.update($0, of: eval.images.count) })
            let map = ModelScoring.meanAP(detections, groundTruth: eval.truth)
            if bootstrap.resamples > 0 { paired.add(ModelScoring.scoredBoxes(detections, classCount: classCount)) }
            runs.append(.init(method: config.method.rawValue, wbits: config.wbits, abits: Self.activationBits,
                              avgBits: q.accounting.averageWeightBits, map: map, deltaVsFP32: map - floatMAP))
        }
        var floatCI: MAPBootstrap.Interval?
        if bootstrap.resamples > 0 {
            let boot = paired.run(metric: .voc07, resamples: bootstrap.resamples, seed: bootstrap.seed)
            floatCI = boot.interval(0)
            for r in runs.indices {
                runs[r].mapCI95 = boot.interval(r + 1)
                runs[r].deltaCI95 = boot.differenceInterval(r + 1, minus: 0)
            }
        }

        // Sensitivity: weights only, rtn, bits 2/4/8 on the first 100 test images and 16 calibration images (all
        // layers; `--limit` samples 4 layers, 2 bit widths). Runs resume from cached float activations
        // (`SensitivityRunner`): about a minute of the demo's time on 2 cores, well inside its 5-minute budget.
        let sensEval = min(eval.images.count, limit.map { min($0, 4) } ?? 100)
        let sensBits = limit == nil ? [2, 4, 8] : [2, 8]
        let sensCalib = min(calib.images.count, limit == nil ? 16 : 1)
        let evalSubset = PreparedImages(ids: Array(eval.images.ids.prefix(sensEval)),
                                        inputs: Array(eval.images.inputs.prefix(sensEval)),
                                        sizes: Array(eval.images.sizes.prefix(sensEval)))
        let calibSubset = PreparedImages(ids: Array(calib.images.ids.prefix(sensCalib)),
                                         inputs: Array(calib.images.inputs.prefix(sensCalib)),
                                         sizes: Array(calib.images.sizes.prefix(sensCalib)))
        let allLayers = inputs.model.convolutions.map(\.name)
        let layers = limit.map { n in Self.spread(allLayers, count: max(2, min(n, 4))) } ?? allLayers
        let runner = SensitivityRunner(model: inputs.model, evaluationImages: evalSubset,
                                       groundTruth: eval.truth.subset(Array(0..<sensEval)),
                                       calibrationImages: calibSubset,
                                       options: .init(bits: sensBits, method: .rtn, threads: threads))
        bar = StepProgress("sensitivity")
        let sensitivity = try runner.run(layers: layers) { p in bar.update(p.done, of: p.total) }

        let seconds = Date().timeIntervalSince(start)
        let settings: [(String, String)] = [
            ("model", inputs.modelPath), ("dataset", inputs.root.path),
            ("test images", "\(eval.images.count)" + (limit.map { " (reduced demo, --limit \($0))" } ?? "")),
            ("calibration", calib.source),
            ("activations", "\(Self.activationBits)-bit per-tensor, min-max ranges from the calibration images"),
            ("metric", "VOC07 11-point mAP, devkit matching"),
            ("sensitivity", "rtn, bits \(sensBits.map(String.init).joined(separator: ", ")), \(layers.count) of "
                + "\(allLayers.count) layers, \(sensEval) test images, SQNR on \(sensCalib) calibration images"),
            ("wall time", String(format: "%.1f s", seconds)),
        ]
        var summary = DemoSummary(mapFP32: floatMAP, runs: runs, seconds: seconds)
        summary.mapFP32CI95 = floatCI
        summary.bootstrap = bootstrap.settings(images: eval.truth.imageIDs.count)
        return Result(summary: summary, sensitivity: sensitivity,
                      settings: settings)
    }

    /// Writes the files of `result` into `out`: sensitivity/ (without its own report.html), summary.json and
    /// report.html.
    public func write(_ result: Result) throws {
        try SensitivityReportFiles.write(result.sensitivity, settings: result.settings,
                                         to: out.appendingPathComponent("sensitivity"), html: false)
        try Output.writeJSON(result.summary, to: out.appendingPathComponent("summary.json").path)
        try Output.write(Data(Self.html(result).utf8), to: out.appendingPathComponent("report.html").path)
    }

    /// `count` names spread evenly over `names` (first and last included).
    static func spread(_ names: [String], count: Int) -> [String] {
        guard count < names.count, count >= 2 else { return names }
        return (0..<count).map { names[$0 * (names.count - 1) / (count - 1)] }
    }

    /// `report.html`: settings, the run table and chart, then the sensitivity sections.
    static func html(_ result: Result) -> String {
        let s = result.summary
        let rows = [["float", "32", "32", "32.00", String(format: "%.2f", s.mapFP32 * 100),
                     IntervalText.bracket(s.mapFP32CI95, scale: 100, digits: 2), "-", "-"]] + s.runs.map { r in
            [r.method, "\(r.wbits)", "\(r.abits)", String(format: "%.2f", r.avgBits), String(format: "%.2f", r.map * 100),
             IntervalText.bracket(r.mapCI95, scale: 100, digits: 2),
             String(format: "%+.2f", (r.map - s.mapFP32) * 100),
             r.deltaCI95.map { IntervalText.bracket($0, scale: 100, digits: 2) + ($0.containsZero ? " n.s." : "") } ?? "-"]
        }
        let runs = ReportHTML.table(header: ["method", "weight bits", "activation bits", "average weight bits", "mAP",
                                             "mAP 95% interval", "vs float", "vs float 95% interval"], rows: rows)
            + "<div class=\"chart\">\(s.chart())</div>"
            + "<p class=\"note\">rtn = per-channel round-to-nearest (one scale per output channel). multipoint = "
            + "the same grid, with extra points given to the channels whose output error drops most per added bit, "
            + "until the average reaches the budget (4.25 or 3.25 bits). mAP in points (×100). "
            + (s.bootstrap.map { "95% intervals: paired bootstrap, \($0.resamples) resamples of the \($0.images) test "
                + "images (seed \($0.seed)); n.s. = not significant, the difference's interval contains 0." } ?? "")
            + "</p>"
        var sections = [ReportHTML.Section(title: "Quantized runs", html: runs),
                        ReportHTML.Section(title: "Settings", html: ReportHTML.settings(result.settings))]
        sections += ReportHTML.sensitivitySections(result.sensitivity, settings: [], top: 15).map {
            ReportHTML.Section(title: "Sensitivity: " + $0.title, html: $0.html)
        }
        let intro = "Written by <code>mpq demo</code> on the embedded demo dataset and detector (or the data given "
            + "with --voc-root / --model)."
        return ReportHTML.page(title: "mpq demo: multipoint quantization of an SSD detector", intro: intro,
                               sections: sections)
    }
}
