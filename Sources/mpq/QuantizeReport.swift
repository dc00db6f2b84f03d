import Foundation
import Quantization

/// What `mpq quantize` prints and writes as JSON (keys as below; the mAP fields only after --evaluate).
struct QuantizeReport: Encodable {
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
    let modelBytes: Int
    let layers: [Layer]
    var mapBefore: Double?
    var mapAfter: Double?

    enum CodingKeys: String, CodingKey {
        case method, wbits, abits, layers
        case avgBits = "avg_bits", extraMACs = "extra_macs", modelBytes = "model_bytes"
        case mapBefore = "map_before", mapAfter = "map_after"
    }

    init(_ q: QuantizedModel, method: String, wbits: Int, abits: Int) {
        self.method = method
        self.wbits = wbits
        self.abits = abits
        avgBits = q.accounting.averageWeightBits
        extraMACs = q.accounting.extraMACs
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
        s += String(format: "model: %@ %@ a%d, average weight bits %.3f, extra MACs %+.2f%%, %d bytes\n",
                    method, widths, abits, avgBits, extraMACs * 100, modelBytes)
        if let mapBefore, let mapAfter {
            s += "\n" + "model".padding(toLength: 24, withPad: " ", startingAt: 0) + "mAP".leftPad(8) + "\n"
            s += "float".padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%8.2f", mapBefore * 100) + "\n"
            let label = method == "mixed" ? "mixed a\(abits)" : "\(method) w\(wbits)a\(abits)"
            s += label.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%8.2f", mapAfter * 100) + String(format: "  (%+.2f)", (mapAfter - mapBefore) * 100)
                + "\n"
        }
        return s
    }
}
