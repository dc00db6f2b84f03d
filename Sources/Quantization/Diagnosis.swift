import Foundation
import Evaluation

/// What `mpq diagnose` found (`diagnose.json`; `DiagnosisRunner` computes it, `DiagnosisFiles` writes it).
///
/// SQNR values are `10 log10(Σ ||y||² / Σ ||ŷ − y||²)` in dB, capped at `±sqnrCapDB` (JSON has no infinity): a
/// tensor equal to the float one, bit for bit, reports `sqnrCapDB`.
public struct Diagnosis: Sendable, Codable, Equatable {
    /// The cap of every SQNR value (identical tensors).
    public static let sqnrCapDB = 200.0

    static func capped(_ db: Double) -> Double {
        db.isNaN ? -sqnrCapDB : min(sqnrCapDB, max(-sqnrCapDB, db))
    }

    /// One model scored on the evaluation images.
    public struct Variant: Sendable, Codable, Equatable {
        /// In `names` order: the float model, the quantized model, its weights with float activations, float
        /// weights with its activation grids, its class logits with the float box offsets, and the float class
        /// logits with its box offsets.
        public static let names = ["float", "quantized", "weights_only", "activations_only",
                                   "quantized_scores_float_boxes", "float_scores_quantized_boxes"]
        public let name: String
        public let map: Double?
        public let mapCI95: MAPBootstrap.Interval?
        public let deltaVsFP32: Double?
        public let deltaCI95: MAPBootstrap.Interval?

        enum CodingKeys: String, CodingKey {
            case name, map
            case mapCI95 = "map_ci95"
            case deltaVsFP32 = "delta_vs_fp32"
            case deltaCI95 = "delta_ci95"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(map, forKey: .map)
            try c.encode(mapCI95, forKey: .mapCI95)
            try c.encode(deltaVsFP32, forKey: .deltaVsFP32)
            try c.encode(deltaCI95, forKey: .deltaCI95)
        }
    }

    /// Per-class AP of the float and the quantized model (nil: no non-difficult object of the class).
    public struct ClassAP: Sendable, Codable, Equatable {
        public let name: String
        public let positives: Int
        public let apFP32: Double?
        public let apQuantized: Double?
        public let apWeightsOnly: Double?
        public let apActivationsOnly: Double?

        enum CodingKeys: String, CodingKey {
            case name, positives
            case apFP32 = "ap_fp32"
            case apQuantized = "ap_quantized"
            case apWeightsOnly = "ap_weights_only"
            case apActivationsOnly = "ap_activations_only"
        }

        public var delta: Double? { apQuantized.flatMap { q in apFP32.map { q - $0 } } }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(positives, forKey: .positives)
            try c.encode(apFP32, forKey: .apFP32)
            try c.encode(apQuantized, forKey: .apQuantized)
            try c.encode(apWeightsOnly, forKey: .apWeightsOnly)
            try c.encode(apActivationsOnly, forKey: .apActivationsOnly)
        }
    }

    /// SQNR of a quantized variant's raw head outputs against the float model's, per head, over all images.
    public struct HeadSQNR: Sendable, Codable, Equatable {
        public let variant: String
        /// Class logits of every prior.
        public let classificationSQNRDB: Double
        /// Box offsets of every prior.
        public let regressionSQNRDB: Double

        enum CodingKeys: String, CodingKey {
            case variant
            case classificationSQNRDB = "classification_sqnr_db"
            case regressionSQNRDB = "regression_sqnr_db"
        }
    }

    /// One conv, in execution order.
    public struct Layer: Sendable, Codable, Equatable {
        public let index: Int
        public let name: String
        /// The weight code width; nil for a conv the file keeps float.
        public let wbits: Int?
        /// The input grid's width; nil for a float input.
        public let abits: Int?
        /// Average points per output channel (multipoint); nil for a float conv.
        public let points: Double?
        public let weights: Int
        /// The conv's share of the quantized weights (0…1); nil for a float conv.
        public let weightShare: Double?
        /// The quantized network's output of this conv against the float network's (accumulated error).
        public let sqnrDB: Double
        /// The quantized network's input of this conv (before its own input grid) against the float network's.
        public let inputSQNRDB: Double
        /// This conv alone, quantized as the file says (weights and input grid), on the float network's input.
        public let aloneSQNRDB: Double
        /// This conv alone with only its weights quantized.
        public let weightsAloneSQNRDB: Double
        /// This conv alone with only its input grid applied.
        public let activationsAloneSQNRDB: Double

        enum CodingKeys: String, CodingKey {
            case index, name, wbits, abits, points, weights
            case weightShare = "weight_share"
            case sqnrDB = "sqnr_db"
            case inputSQNRDB = "input_sqnr_db"
            case aloneSQNRDB = "alone_sqnr_db"
            case weightsAloneSQNRDB = "weights_alone_sqnr_db"
            case activationsAloneSQNRDB = "activations_alone_sqnr_db"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(name, forKey: .name)
            try c.encode(wbits, forKey: .wbits)
            try c.encode(abits, forKey: .abits)
            try c.encode(points, forKey: .points)
            try c.encode(weights, forKey: .weights)
            try c.encode(weightShare, forKey: .weightShare)
            try c.encode(sqnrDB, forKey: .sqnrDB)
            try c.encode(inputSQNRDB, forKey: .inputSQNRDB)
            try c.encode(aloneSQNRDB, forKey: .aloneSQNRDB)
            try c.encode(weightsAloneSQNRDB, forKey: .weightsAloneSQNRDB)
            try c.encode(activationsAloneSQNRDB, forKey: .activationsAloneSQNRDB)
        }

        public var isQuantized: Bool { wbits != nil || abits != nil }
    }

    /// One entry of the ranked "what broke" list.
    public struct Finding: Sendable, Codable, Equatable {
        /// `more_points`, `keep_float` or `higher_abits`.
        public enum Fix: String, Sendable, Codable, Equatable {
            case morePoints = "more_points"
            case keepFloat = "keep_float"
            case higherAbits = "higher_abits"
        }

        public let rank: Int
        public let layer: String
        public let fix: Fix
        /// The suggestion as a sentence.
        public let suggestion: String
        /// The numbers behind it, as a sentence.
        public let evidence: String
        /// The ranking key: `Layer.aloneSQNRDB` (lowest first).
        public let sqnrDB: Double

        enum CodingKeys: String, CodingKey {
            case rank, layer, fix, suggestion, evidence
            case sqnrDB = "sqnr_db"
        }
    }

    public struct BootstrapSettings: Sendable, Codable, Equatable {
        public let resamples: Int
        public let seed: UInt64
        public let images: Int
    }

    public var method: String
    public var wbits: Int
    public var abits: Int
    /// The engine the quantized variant ran on.
    public var engine: String
    /// Evaluation images (mAP, per-class AP, head SQNR).
    public var images: Int
    /// Images of the layer pass (the first of the evaluation images).
    public var sqnrImages: Int
    public var variants: [Variant]
    public var classes: [ClassAP]
    public var heads: [HeadSQNR]
    public var layers: [Layer]
    public var whatBroke: [Finding]
    public var bootstrap: BootstrapSettings?
    public var sqnrCap: Double = Diagnosis.sqnrCapDB

    enum CodingKeys: String, CodingKey {
        case method, wbits, abits, engine, images, variants, classes, heads, layers, bootstrap
        case sqnrImages = "sqnr_images"
        case whatBroke = "what_broke"
        case sqnrCap = "sqnr_cap_db"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encode(wbits, forKey: .wbits)
        try c.encode(abits, forKey: .abits)
        try c.encode(engine, forKey: .engine)
        try c.encode(images, forKey: .images)
        try c.encode(sqnrImages, forKey: .sqnrImages)
        try c.encode(variants, forKey: .variants)
        try c.encode(classes, forKey: .classes)
        try c.encode(heads, forKey: .heads)
        try c.encode(layers, forKey: .layers)
        try c.encode(whatBroke, forKey: .whatBroke)
        try c.encode(bootstrap, forKey: .bootstrap)
        try c.encode(sqnrCap, forKey: .sqnrCap)
    }

    /// The variant named `name` (`Variant.names`).
    public func variant(_ name: String) -> Variant? { variants.first { $0.name == name } }

    /// A layer holding at most this share of the quantized weights is cheap to keep float.
    public static let smallLayerShare = 0.02
    /// Below this alone SQNR (dB) a layer's weights are destroyed rather than coarse: keep it float.
    public static let destroyedSQNRDB = 10.0

    /// The quantized convs ordered by their own error (`aloneSQNRDB`, lowest first; ties by execution order), the
    /// first `top`, each with a fix:
    /// - `higher_abits` when the input grid alone costs more than the weights alone (lower SQNR);
    /// - otherwise `keep_float` when the layer holds at most `smallLayerShare` of the quantized weights (cheap) or
    ///   its weights alone give under `destroyedSQNRDB`, else `more_points`.
    public static func rank(_ layers: [Layer], top: Int) -> [Finding] {
        let candidates = layers.filter(\.isQuantized).sorted {
            $0.aloneSQNRDB != $1.aloneSQNRDB ? $0.aloneSQNRDB < $1.aloneSQNRDB : $0.index < $1.index
        }
        return candidates.prefix(max(top, 0)).enumerated().map { k, l in
            let w = String(format: "%.1f dB", l.weightsAloneSQNRDB), a = String(format: "%.1f dB", l.activationsAloneSQNRDB)
            let bitsText = l.wbits.map { "\($0)-bit weights" } ?? "float weights"
            let inputText = l.abits.map { "its \($0)-bit input grid" } ?? "its float input"
            let share = l.weightShare.map { String(format: "%.1f%%", $0 * 100) } ?? "0%"
            let evidence = String(format: "alone %.1f dB (weights alone %@ with %@, input alone %@ with %@); "
                                  + "network %.1f dB after it, %.1f dB at its input; %d weights (%@ of the quantized)",
                                  l.aloneSQNRDB, w, bitsText, a, inputText, l.sqnrDB, l.inputSQNRDB, l.weights, share)
            let fix: Finding.Fix
            let suggestion: String
            if l.abits != nil && l.activationsAloneSQNRDB < l.weightsAloneSQNRDB {
                fix = .higherAbits
                suggestion = "higher abits for \(l.name)'s input (now \(l.abits ?? 0) bits; its input rounding costs "
                    + "more than its weights)"
            } else if (l.weightShare ?? 0) <= smallLayerShare || l.weightsAloneSQNRDB < destroyedSQNRDB {
                fix = .keepFloat
                suggestion = "keep \(l.name) float (" + ((l.weightShare ?? 0) <= smallLayerShare
                    ? "it holds \(share) of the quantized weights)" : "its weights alone give under "
                        + String(format: "%.0f dB)", destroyedSQNRDB))
            } else {
                fix = .morePoints
                suggestion = "more points for \(l.name) (now "
                    + String(format: "%.2f", l.points ?? 1) + " points per channel at \(l.wbits ?? 0) bits)"
            }
            return Finding(rank: k + 1, layer: l.name, fix: fix, suggestion: suggestion, evidence: evidence,
                           sqnrDB: l.aloneSQNRDB)
        }
    }
}
