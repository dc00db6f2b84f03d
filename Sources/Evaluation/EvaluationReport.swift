import VOC
import Foundation

/// Text renderings of an `EvaluationResult`: the terminal table, the Markdown summary, the JSON document.
public enum EvaluationReport {
    /// AP as printed in tables: 4 decimals, "n/a" for a class without positives.
    public static func format(_ ap: Double?) -> String {
        ap.map { String(format: "%.4f", $0) } ?? "n/a"
    }

    /// Per-class table (class, AP, npos, detections) and the mAP line.
    public static func table(_ result: EvaluationResult) -> String {
        let width = max(12, (result.classes.map(\.name.count).max() ?? 0) + 2)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? s + fill : fill + s
        }
        var out = pad("class", width, left: true) + pad("AP", 8) + pad("npos", 8) + pad("detections", 12) + "\n"
        for c in result.classes {
            out += pad(c.name, width, left: true) + pad(format(c.ap), 8) + pad("\(c.positives)", 8)
                + pad("\(c.detections)", 12) + "\n"
        }
        let scored = result.classes.filter { $0.ap != nil }.count
        out += pad("mAP", width, left: true) + pad(format(result.mAP), 8)
            + "  (\(result.metric.rawValue), \(result.evaluationProtocol.rawValue), mean over \(scored) of "
            + "\(result.classes.count) classes; n/a = no non-difficult objects, left out)\n"
        return out
    }

    /// The JSON document of `evaluate-detections --json` / `evaluate --json`:
    /// `{"metric", "protocol", "mAP", "classes": {"<name>": {"ap", "npos", "detections"}}}`, `ap` null for n/a;
    /// with a bootstrap also `"map_ci95": [lo, hi]` and `"bootstrap": {"resamples", "seed", "images"}`; with a
    /// baseline also `"baseline": {"results", "mAP", "map_ci95"}`, `"delta_vs_baseline"` (mAP - baseline mAP),
    /// `"delta_ci95": [lo, hi]` and `"delta_significant"` (the interval does not contain 0).
    public struct JSON: Encodable {
        struct ClassEntry: Encodable {
            let ap: Double?
            let npos: Int
            let detections: Int
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(ap, forKey: .ap)  // explicit null rather than a missing key
                try c.encode(npos, forKey: .npos)
                try c.encode(detections, forKey: .detections)
            }
            enum CodingKeys: String, CodingKey { case ap, npos, detections }
        }
        /// How the intervals were drawn.
        public struct BootstrapSettings: Codable, Sendable, Equatable {
            public let resamples: Int
            public let seed: UInt64
            public let images: Int
            public init(resamples: Int, seed: UInt64, images: Int) {
                self.resamples = resamples
                self.seed = seed
                self.images = images
            }
        }
        /// The model compared against (`evaluate --baseline`).
        public struct Baseline: Encodable, Sendable {
            public let results: String
            public let mAP: Double?
            public let mapCI95: MAPBootstrap.Interval?
            public init(results: String, mAP: Double?, mapCI95: MAPBootstrap.Interval?) {
                self.results = results
                self.mAP = mAP
                self.mapCI95 = mapCI95
            }
            enum CodingKeys: String, CodingKey { case results, mAP, mapCI95 = "map_ci95" }
            public func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(results, forKey: .results)
                try c.encode(mAP, forKey: .mAP)
                try c.encodeIfPresent(mapCI95, forKey: .mapCI95)
            }
        }
        /// What was scored: the model file (`evaluate`; nil for result files), the split and how many images.
        public var model: String?
        public var split: String?
        public var images: Int?
        let metric: String
        let evaluationProtocol: String
        let mAP: Double?
        let classes: [String: ClassEntry]
        public var mapCI95: MAPBootstrap.Interval?
        public var bootstrap: BootstrapSettings?
        public var baseline: Baseline?
        public var deltaVsBaseline: Double?
        public var deltaCI95: MAPBootstrap.Interval?

        public init(_ result: EvaluationResult) {
            metric = result.metric.rawValue
            evaluationProtocol = result.evaluationProtocol.rawValue
            mAP = result.mAP
            classes = Dictionary(result.classes.map {
                ($0.name, ClassEntry(ap: $0.ap, npos: $0.positives, detections: $0.detections))
            }, uniquingKeysWith: { first, _ in first })
        }

        enum CodingKeys: String, CodingKey {
            case model, split, images, metric, evaluationProtocol = "protocol", mAP, classes
            case mapCI95 = "map_ci95", bootstrap, baseline, deltaVsBaseline = "delta_vs_baseline"
            case deltaCI95 = "delta_ci95", deltaSignificant = "delta_significant"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(model, forKey: .model)
            try c.encodeIfPresent(split, forKey: .split)
            try c.encodeIfPresent(images, forKey: .images)
            try c.encode(metric, forKey: .metric)
            try c.encode(evaluationProtocol, forKey: .evaluationProtocol)
            try c.encode(mAP, forKey: .mAP)
            try c.encode(classes, forKey: .classes)
            try c.encodeIfPresent(mapCI95, forKey: .mapCI95)
            try c.encodeIfPresent(bootstrap, forKey: .bootstrap)
            try c.encodeIfPresent(baseline, forKey: .baseline)
            if baseline != nil { try c.encode(deltaVsBaseline, forKey: .deltaVsBaseline) }
            try c.encodeIfPresent(deltaCI95, forKey: .deltaCI95)
            if let deltaCI95 { try c.encode(!deltaCI95.containsZero, forKey: .deltaSignificant) }
        }
    }

    /// A Markdown summary: settings, mAP, and per class AP, counts and a link to its precision-recall curve
    /// (`curves/<class>.svg`, see `PRCurveSVG`).
    public static func markdown(_ result: EvaluationResult, title: String, settings: [(String, String)]) -> String {
        var out = "# \(title)\n\n"
        for (key, value) in settings { out += "- **\(key)**: \(value)\n" }
        out += "- **metric**: \(result.metric.rawValue), **protocol**: \(result.evaluationProtocol.rawValue)\n"
        out += "- **mAP**: \(format(result.mAP))\n\n"
        out += "| class | AP | npos | detections | TP | FP | ignored (difficult) | curve |\n"
        out += "|---|---:|---:|---:|---:|---:|---:|---|\n"
        for c in result.classes {
            let curve = c.ap == nil ? "" : "[svg](\(PRCurveSVG.fileName(className: c.name)))"
            out += "| \(c.name) | \(format(c.ap)) | \(c.positives) | \(c.detections) | \(c.truePositives) | "
                + "\(c.falsePositives) | \(c.ignored) | \(curve) |\n"
        }
        if result.classes.contains(where: { $0.ap == nil }) {
            out += "\nAP n/a: the class has no non-difficult object in the scored images; it is left out of the mAP.\n"
        }
        return out
    }
}
