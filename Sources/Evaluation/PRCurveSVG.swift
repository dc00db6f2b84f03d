import VOC
import Foundation
import SafeIO

/// A per-class precision-recall plot as a small standalone SVG (no dependencies): the raw precision after each
/// detection (grey) and the interpolated envelope that VOC10 AP integrates (blue steps).
public enum PRCurveSVG {
    /// Where the summary links a class's curve, relative to the results folder.
    public static func fileName(className: String) -> String {
        let safe = className.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        return "curves/\(String(safe)).svg"
    }

    /// The SVG document for one class (an empty plot with a note when the class has no curve).
    public static func document(for c: ClassEvaluation, metric: APMetric) -> String {
        let w = 360.0, h = 300.0, left = 50.0, top = 30.0, plotW = 290.0, plotH = 220.0
        func x(_ r: Double) -> String { String(format: "%.2f", left + r * plotW) }
        func y(_ p: Double) -> String { String(format: "%.2f", top + (1 - p) * plotH) }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" \
        font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(w / 2))" y="18" text-anchor="middle" font-size="13">\(escape(c.name)): AP \
        \(EvaluationReport.format(c.ap)) (\(metric.rawValue))</text>
        <rect x="\(left)" y="\(top)" width="\(plotW)" height="\(plotH)" fill="none" stroke="black"/>

        """
        for k in 0...10 {
            let v = Double(k) / 10
            svg += "<line x1=\"\(x(v))\" y1=\"\(y(0))\" x2=\"\(x(v))\" y2=\"\(y(1))\" stroke=\"#eee\"/>"
            svg += "<line x1=\"\(x(0))\" y1=\"\(y(v))\" x2=\"\(x(1))\" y2=\"\(y(v))\" stroke=\"#eee\"/>\n"
            if k % 2 == 0 {
                let label = String(format: "%.1f", v)
                svg += "<text x=\"\(x(v))\" y=\"\(String(format: "%.2f", top + plotH + 14))\" text-anchor=\"middle\">\(label)</text>"
                svg += "<text x=\"\(String(format: "%.2f", left - 6))\" y=\"\(y(v))\" text-anchor=\"end\" dy=\"4\">\(label)</text>\n"
            }
        }
        svg += "<text x=\"\(x(0.5))\" y=\"\(Int(h - 8))\" text-anchor=\"middle\">recall</text>\n"
        svg += "<text x=\"14\" y=\"\(y(0.5))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(y(0.5)))\">precision</text>\n"
        if c.recall.isEmpty {
            let why = c.positives == 0 ? "no non-difficult objects: AP n/a" : "no detections"
            svg += "<text x=\"\(x(0.5))\" y=\"\(y(0.5))\" text-anchor=\"middle\">\(why)</text>\n</svg>\n"
            return svg
        }
        svg += "<polyline fill=\"none\" stroke=\"#999\" stroke-width=\"1\" points=\""
        svg += zip(c.recall, c.precision).map { "\(x($0)),\(y($1))" }.joined(separator: " ")
        svg += "\"/>\n"
        // Envelope: precision made non-increasing from the right, drawn as steps at the recall changes.
        var envelope = c.precision
        for i in stride(from: envelope.count - 2, through: 0, by: -1) { envelope[i] = max(envelope[i], envelope[i + 1]) }
        var points = ["\(x(0)),\(y(envelope[0]))"]
        var previousRecall = 0.0
        for i in envelope.indices where c.recall[i] != previousRecall {
            points.append("\(x(previousRecall)),\(y(envelope[i]))")
            points.append("\(x(c.recall[i])),\(y(envelope[i]))")
            previousRecall = c.recall[i]
        }
        svg += "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
        svg += "</svg>\n"
        return svg
    }

    /// Writes one SVG per class under `folder/curves/`, each atomically.
    public static func write(_ result: EvaluationResult, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("curves"),
                                                withIntermediateDirectories: true)
        for c in result.classes {
            let url = folder.appendingPathComponent(fileName(className: c.name))
            try AtomicFile.write(document(for: c, metric: result.metric), to: url)
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
