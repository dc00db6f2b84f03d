import Foundation
import Quantization
import SafeIO
import SSD

/// `--allocation adaptive|random` (quantize).
public enum PointAllocation: String, CaseIterable {
    case adaptive, random
}

/// `--max-error-scope layer|channel` (quantize).
public enum ErrorScope: String, CaseIterable {
    case layer, channel
}

/// Which DFQ steps run around one quantization.
struct DFQSteps {
    let cle: Bool
    let biasCorrection: Bool

    /// The steps `method` runs with the flags `--cle` and `--bias-correction` (dfq always runs both).
    init(method: WeightQuantizationMethod, cle: Bool, biasCorrection: Bool) {
        self.cle = cle || method == .dfq
        self.biasCorrection = biasCorrection || method == .dfq
    }

    /// The method's name with the steps it does not imply (`rtn+cle+bc`; `dfq` as is).
    func label(_ method: WeightQuantizationMethod) -> String {
        guard method != .dfq else { return method.rawValue }
        return method.rawValue + (cle ? "+cle" : "") + (biasCorrection ? "+bc" : "")
    }

    /// The float model to calibrate and quantize: equalized when `cle`.
    func equalize(_ model: SSDModel, note: (String) -> Void) throws -> SSDModel {
        guard cle else { return model }
        let (equalized, report) = try CrossLayerEqualization.equalize(model)
        note("cross-layer equalization: \(report.pairs.count) conv pairs in \(report.sweeps) sweeps"
            + (report.skipped.isEmpty ? "" : ", \(report.skipped.count) ReLU6 pairs left alone"))
        return equalized
    }

    /// `q` with its biases corrected on the calibration images when `biasCorrection`.
    func correctBiases(_ q: QuantizedModel, float: SSDModel, images: PreparedImages,
                       note: (String) -> Void) throws -> QuantizedModel {
        guard biasCorrection else { return q }
        let (corrected, layers) = try BiasCorrection.correct(q, float: float, images: images.inputs)
        let largest = layers.max { $0.maxShift < $1.maxShift }
        note("bias correction: \(layers.count) layers on \(images.count) images"
            + (largest.map { String(format: ", largest shift %.4f (%@)", $0.maxShift, $0.name) } ?? ""))
        return corrected
    }
}

/// The figures of multipoint's argument as files: `errors_vs_points.svg`, `points_per_channel_<label>.svg` and a
/// `report.html` showing them (quantize --report; compare embeds the same SVGs in compare.html).
enum FigureReport {
    /// The SVGs (file name, content) for `quantized` models (only those with more than one point somewhere get a
    /// histogram).
    static func figures(model: SSDModel, statistics: CalibrationStatistics, bits: [Int], skip: [String],
                        quantized: [(label: String, model: QuantizedModel)],
                        threads: Int) throws -> [(file: String, svg: String)] {
        var out: [(String, String)] = []
        for b in bits.sorted() {
            let curves = try AllocationFigures.errorCurves(model: model, statistics: statistics, bits: b, skip: skip,
                                                           threads: threads)
            out.append((bits.count == 1 ? "errors_vs_points.svg" : "errors_vs_points_w\(b).svg",
                        AllocationFigures.errorVersusPointsSVG(curves, bits: b)))
        }
        for (label, q) in quantized where q.layers.contains(where: { $0.weights.pointCounts.contains { $0 > 1 } }) {
            let file = "points_per_channel_" + label.map { $0.isLetter || $0.isNumber ? $0 : "_" } + ".svg"
            out.append((String(file), AllocationFigures.pointsHistogramSVG(
                q.layers.map { ($0.name, $0.weights.pointCounts) },
                title: "Points per channel: \(label), " + String(format: "%.3f", q.accounting.averageWeightBits)
                    + " average bits")))
        }
        return out
    }

    static func save(in folder: URL, title: String, model: SSDModel, statistics: CalibrationStatistics, bits: Int,
                      skip: [String], quantized: [(label: String, model: QuantizedModel)], threads: Int) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let svgs = try figures(model: model, statistics: statistics, bits: [bits], skip: skip, quantized: quantized,
                               threads: threads)
        for (file, svg) in svgs {
            try AtomicFile.write(svg, to: folder.appendingPathComponent(file))
        }
        let html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>\(ReportSVG.escape(title))</title>"
            + "<style>body{font-family:sans-serif;margin:2em}</style></head><body><h1>\(ReportSVG.escape(title))</h1>"
            + section(svgs) + "</body></html>\n"
        try AtomicFile.write(html, to: folder.appendingPathComponent("report.html"))
    }

    /// The figures inline, each under a short caption.
    static func section(_ svgs: [(file: String, svg: String)]) -> String {
        var s = "<h2>Error vs points, and where the points went</h2><p>Left: how fast a layer's output error falls "
            + "with more points (multipoint) against one RTN or MSE point. Then, for each allocation, the share of "
            + "each layer's channels by number of points.</p>"
        for (file, svg) in svgs { s += "<figure>\(svg)<figcaption>\(ReportSVG.escape(file))</figcaption></figure>" }
        return s
    }
}
