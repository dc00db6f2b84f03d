import Foundation
import Quantization
import Evaluation
import VOC

/// What `mpq quantize` prints and writes as JSON (keys as below; the mAP fields only after --evaluate).
public struct QuantizeReport: Encodable {
    struct Layer: Encodable {
        let name: String
        let channels: Int
        /// Points per channel → number of channels, keys "1", "2", ….
        let points: [String: Int]
        let avgBits: Double
        let relOutputError: Double?

        enum CodingKeys: String, CodingKey {
            case name, channels, points
            case avgBits = "avg_bits", relOutputError = "rel_output_error"
        }
    }

    let method: String
    let wbits: Int
    let abits: Int
    let avgBits: Double
    let extraMACs: Double
    /// Extra stored weights (layers weighted by size); `extra_macs` weights them by output size.
    let extraWeights: Double
    /// Average weight bits weighted by multiply-adds (what `--cost macs` budgets).
    let macAvgBits: Double
    let modelBytes: Int
    let layers: [Layer]
    var mapBefore: Double?
    var mapAfter: Double?
    /// The paired bootstrap's 95% intervals (after --evaluate, unless --bootstrap 0).
    var mapBeforeCI95: MAPBootstrap.Interval?
    var mapAfterCI95: MAPBootstrap.Interval?
    /// `map_after - map_before` and its interval.
    var deltaVsFP32: Double?
    var deltaCI95: MAPBootstrap.Interval?
    var bootstrap: EvaluationReport.JSON.BootstrapSettings?

    enum CodingKeys: String, CodingKey {
        case method, wbits, abits, layers, bootstrap
        case avgBits = "avg_bits", extraMACs = "extra_macs", modelBytes = "model_bytes"
        case extraWeights = "extra_weights", macAvgBits = "mac_avg_bits"
        case mapBefore = "map_before", mapAfter = "map_after"
        case mapBeforeCI95 = "map_before_ci95", mapAfterCI95 = "map_after_ci95"
        case deltaVsFP32 = "delta_vs_fp32", deltaCI95 = "delta_ci95"
    }

    init(_ q: QuantizedModel, method: String, wbits: Int, abits: Int) {
        self.method = method
        self.wbits = wbits
        self.abits = abits
        avgBits = q.accounting.averageWeightBits
        extraMACs = q.accounting.extraMACs
        extraWeights = q.accounting.extraWeights
        macAvgBits = q.accounting.macAverageBits
        modelBytes = q.accounting.modelBytes
        layers = q.accounting.layers.map { a in
            Layer(name: a.name, channels: a.channels,
                  points: Dictionary(uniqueKeysWithValues: a.pointsHistogram.map { ("\($0.key)", $0.value) }),
                  avgBits: a.averageWeightBits, relOutputError: a.relativeOutputError)
        }
    }

    /// The per-layer table, the totals and (after --evaluate) mAP before and after.
    func table() -> String {
        var s = "layer".padding(toLength: 40, withPad: " ", startingAt: 0) + "channels".leftPad(9)
            + "  points (n:channels)".padding(toLength: 30, withPad: " ", startingAt: 0) + "avg bits".leftPad(9)
            + "rel err".leftPad(11) + "\n"
        for l in layers {
            let hist = l.points.keys.compactMap(Int.init).sorted().map { "\($0):\(l.points["\($0)"] ?? 0)" }
                .joined(separator: " ")
            s += l.name.padding(toLength: 40, withPad: " ", startingAt: 0) + "\(l.channels)".leftPad(9) + "  "
                + hist.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%9.3f", l.avgBits)
                + (l.relOutputError.map { String(format: "%11.2e", $0) } ?? "-".leftPad(11)) + "\n"
        }
        // Mixed precision has a width per layer (the layer rows above), not one --wbits.
        let widths = method == "mixed" ? "per-layer widths" : "w\(wbits)"
        s += String(format: "model: %@ %@ a%d, average weight bits %.3f (%.3f MAC-weighted), extra MACs %+.2f%%, "
                    + "%d bytes\n", method, widths, abits, avgBits, macAvgBits, extraMACs * 100, modelBytes)
        if let mapBefore, let mapAfter {
            // mAP in points (x100); intervals as [lo, hi] in points.
            s += "\n" + "model".padding(toLength: 24, withPad: " ", startingAt: 0) + "mAP".leftPad(8)
                + (mapBeforeCI95 != nil ? "  95% interval" : "") + "\n"
            s += "float".padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%8.2f", mapBefore * 100)
                + (mapBeforeCI95.map { "  " + IntervalText.bracket($0, scale: 100, digits: 2) } ?? "") + "\n"
            let label = method == "mixed" ? "mixed a\(abits)" : "\(method) w\(wbits)a\(abits)"
            s += label.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%8.2f", mapAfter * 100)
                + (mapAfterCI95.map { "  " + IntervalText.bracket($0, scale: 100, digits: 2) } ?? "") + "\n"
            s += "difference".padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%+8.2f", (mapAfter - mapBefore) * 100)
            if let deltaCI95 {
                s += "  " + IntervalText.bracket(deltaCI95, scale: 100, digits: 2) + " "
                    + IntervalText.significance(deltaCI95) + (deltaCI95.containsZero ? " (the interval contains 0)" : "")
                    + IntervalText.outsideNote(mapAfter - mapBefore, deltaCI95)
            }
            s += "\n"
            if let bootstrap {
                s += "95% intervals: paired bootstrap, \(bootstrap.resamples) resamples of the \(bootstrap.images) "
                    + "evaluation images (seed \(bootstrap.seed)); mAP in points (x100).\n"
            }
        }
        return s
    }
}
