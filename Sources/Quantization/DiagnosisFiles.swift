import Foundation
import Evaluation
import SafeIO

/// The files of `mpq diagnose --report DIR`: `diagnose.json`, `diagnose.md` and the one-file `report.html`
/// (inline SVG charts, no scripts), each written atomically.
public enum DiagnosisFiles {
    public static let fileNames = ["diagnose.json", "diagnose.md", "report.html"]

    public static func json(_ d: Diagnosis) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(d)
        data.append(0x0A)
        return data
    }

    /// Writes the three files into `folder` (created if needed), each atomically (`AtomicFile`): every file is
    /// rendered before the first is written, so a rendering failure leaves nothing behind.
    @discardableResult
    public static func write(_ d: Diagnosis, settings: [(String, String)], to folder: URL) throws -> [URL] {
        let files: [(String, Data)] = [
            ("diagnose.json", try json(d)),
            ("diagnose.md", Data(markdown(d, settings: settings).utf8)),
            ("report.html", Data(html(d, settings: settings).utf8)),
        ]
        var urls: [URL] = []
        for (name, data) in files {
            let url = folder.appendingPathComponent(name)
            try AtomicFile.write(data, to: url)
            urls.append(url)
        }
        return urls
    }

    // MARK: - Text

    static func points(_ x: Double?) -> String { x.map { String(format: "%.2f", $0 * 100) } ?? "n/a" }
    static func signed(_ x: Double?) -> String { x.map { String(format: "%+.2f", $0 * 100) } ?? "-" }
    static func interval(_ i: MAPBootstrap.Interval?) -> String {
        i.map { String(format: "[%.2f, %.2f]", $0.lo * 100, $0.hi * 100) } ?? "-"
    }
    static func db(_ x: Double) -> String {
        x >= Diagnosis.sqnrCapDB ? "exact" : String(format: "%.1f", x)
    }

    /// What the variant means, for tables.
    static func label(_ name: String) -> String {
        switch name {
        case "float": return "float"
        case "quantized": return "quantized (weights and activations)"
        case "weights_only": return "weights only (activations float)"
        case "activations_only": return "activations only (weights float)"
        case "quantized_scores_float_boxes": return "quantized class scores + float boxes"
        case "float_scores_quantized_boxes": return "float class scores + quantized boxes"
        default: return name
        }
    }

    /// Plain-language findings from the variant and head numbers. A loss is attributed (to weights or
    /// activations, to a head) only when the quantized model lost mAP and its difference to float is significant
    /// (or no interval was computed); otherwise the line says there is nothing to attribute.
    public static func headline(_ d: Diagnosis) -> [String] {
        var out: [String] = []
        guard let f = d.variant("float")?.map, let q = d.variant("quantized")?.map else { return out }
        out.append(String(format: "mAP %.2f float, %.2f quantized (%+.2f points%@).", f * 100, q * 100, (q - f) * 100,
                          significance(d.variant("quantized"))))
        let lost = q < f && !(d.variant("quantized")?.deltaCI95?.containsZero ?? false)
        let nothing = q >= f ? "the quantized model lost nothing on these images, so there is no loss to attribute"
            : "the quantized model's loss is not significant on these images, so the attribution is not either"
        /// The larger of two costs, if the loss is real and one of them is.
        func larger(_ a: String, _ costA: Double, _ b: String, _ costB: Double) -> String {
            guard lost else { return nothing }
            guard max(costA, costB) > 0 else { return "neither alone loses anything" }
            return "most of the loss comes from " + (costA >= costB ? a : b)
        }
        if let w = d.variant("weights_only")?.map, let a = d.variant("activations_only")?.map {
            out.append(String(format: "Weights only %+.2f points%@, activations only %+.2f%@: %@.", (w - f) * 100,
                              significance(d.variant("weights_only")), (a - f) * 100,
                              significance(d.variant("activations_only")),
                              larger("the weights", f - w, "the activations", f - a)))
        }
        if let cs = d.variant("quantized_scores_float_boxes")?.map, let bs = d.variant("float_scores_quantized_boxes")?.map {
            let who = larger("the classification head", f - cs, "the box regression head", f - bs)
            out.append(String(format: "Quantized class scores with float boxes %+.2f points%@, float scores with "
                              + "quantized boxes %+.2f%@: %@.", (cs - f) * 100,
                              significance(d.variant("quantized_scores_float_boxes")), (bs - f) * 100,
                              significance(d.variant("float_scores_quantized_boxes")), who))
        }
        if let top = d.whatBroke.first {
            out.append("Worst layer by its own error: \(top.layer) (\(db(top.sqnrDB)) dB alone); fix: \(top.suggestion).")
        }
        return out
    }

    /// ", 95% [lo, hi], (not) significant" for a variant's difference to float (points, same sign as the
    /// difference), or nothing without an interval.
    static func significance(_ v: Diagnosis.Variant?) -> String {
        guard let i = v?.deltaCI95 else { return "" }
        return ", 95% " + interval(i) + (i.containsZero ? ", not significant" : ", significant")
    }

    public static func markdown(_ d: Diagnosis, settings: [(String, String)]) -> String {
        var s = "# Quantization diagnosis\n\n"
        s += "| setting | value |\n|---|---|\n" + settings.map { "| \($0.0) | \($0.1) |\n" }.joined() + "\n"
        s += headline(d).map { "- \($0)\n" }.joined() + "\n"
        s += "## What broke (ranked by the layer's own SQNR)\n\n| rank | layer | fix | suggestion | evidence |\n"
            + "|---|---|---|---|---|\n"
        for f in d.whatBroke {
            s += "| \(f.rank) | `\(f.layer)` | \(f.fix.rawValue) | \(f.suggestion) | \(f.evidence) |\n"
        }
        s += "\n## mAP (VOC07, devkit rules) on \(d.images) images\n\n"
            + "| variant | mAP | 95% | vs float | vs float 95% |\n|---|---|---|---|---|\n"
        for v in d.variants {
            s += "| \(label(v.name)) | \(points(v.map)) | \(interval(v.mapCI95)) | \(v.name == "float" ? "-" : signed(v.deltaVsFP32)) "
                + "| \(interval(v.deltaCI95))\(v.deltaCI95.map { $0.containsZero ? " n.s." : "" } ?? "") |\n"
        }
        s += "\n## Heads: SQNR of the raw outputs against float (dB)\n\n"
            + "| variant | class logits | box offsets |\n|---|---|---|\n"
        for h in d.heads {
            s += "| \(label(h.variant)) | \(db(h.classificationSQNRDB)) | \(db(h.regressionSQNRDB)) |\n"
        }
        s += "\n## Per-class AP\n\n| class | objects | float | quantized | change | weights only | activations only |\n"
            + "|---|---|---|---|---|---|---|\n"
        for c in d.classes {
            s += "| \(c.name) | \(c.positives) | \(points(c.apFP32)) | \(points(c.apQuantized)) | \(signed(c.delta)) "
                + "| \(points(c.apWeightsOnly)) | \(points(c.apActivationsOnly)) |\n"
        }
        s += "\n## Layers (SQNR in dB on \(d.sqnrImages) images; \"exact\" = equal to float)\n\n"
            + "| # | layer | w bits | a bits | points | network | input | alone | weights alone | input alone |\n"
            + "|---|---|---|---|---|---|---|---|---|---|\n"
        for l in d.layers {
            s += "| \(l.index) | `\(l.name)` | \(l.wbits.map(String.init) ?? "float") | "
                + "\(l.abits.map(String.init) ?? "float") | \(l.points.map { String(format: "%.2f", $0) } ?? "-") | "
                + "\(db(l.sqnrDB)) | \(db(l.inputSQNRDB)) | \(db(l.aloneSQNRDB)) | \(db(l.weightsAloneSQNRDB)) | "
                + "\(db(l.activationsAloneSQNRDB)) |\n"
        }
        return s
    }

    // MARK: - HTML

    public static func html(_ d: Diagnosis, settings: [(String, String)]) -> String {
        let e = ReportSVG.escape
        var sections: [ReportHTML.Section] = []
        let findings = "<ul>" + headline(d).map { "<li>\(e($0))</li>" }.joined() + "</ul>"
        sections.append(.init(title: "Summary", html: findings + ReportHTML.settings(settings)))
        sections.append(.init(title: "What broke", html: "<p class=\"note\">Quantized layers ranked by their own error "
            + "(the layer alone, quantized as the file says, on the float network's input; lowest SQNR first).</p>"
            + ReportHTML.table(header: ["rank", "layer", "fix", "suggestion", "evidence"],
                               rows: d.whatBroke.map { ["\($0.rank)", $0.layer, $0.fix.rawValue, $0.suggestion, $0.evidence] })))
        sections.append(.init(title: "mAP of the variants", html: "<div class=\"chart\">\(DiagnosisSVG.mapBars(d))</div>"
            + ReportHTML.table(header: ["variant", "mAP", "95%", "vs float", "vs float 95%"], rows: d.variants.map { v in
                [label(v.name), points(v.map), interval(v.mapCI95), v.name == "float" ? "-" : signed(v.deltaVsFP32),
                 interval(v.deltaCI95) + (v.deltaCI95.map { $0.containsZero ? " n.s." : "" } ?? "")]
            })))
        sections.append(.init(title: "SQNR along the network", html: "<p class=\"note\">At every conv: the quantized "
            + "network's output against the float network's (accumulated error), and the conv alone on the float "
            + "input (its own error). Values at the cap (\(Int(Diagnosis.sqnrCapDB)) dB) are exact.</p>"
            + "<div class=\"chart\">\(DiagnosisSVG.sqnrLines(d))</div>"))
        sections.append(.init(title: "Heads", html: ReportHTML.table(
            header: ["variant", "class logits SQNR (dB)", "box offsets SQNR (dB)"],
            rows: d.heads.map { [label($0.variant), db($0.classificationSQNRDB), db($0.regressionSQNRDB)] })))
        sections.append(.init(title: "Per-class AP", html: "<div class=\"chart\">\(DiagnosisSVG.classBars(d))</div>"
            + ReportHTML.table(header: ["class", "objects", "float", "quantized", "change", "weights only",
                                        "activations only"], rows: d.classes.map { c in
                [c.name, "\(c.positives)", points(c.apFP32), points(c.apQuantized), signed(c.delta),
                 points(c.apWeightsOnly), points(c.apActivationsOnly)]
            })))
        sections.append(.init(title: "Layers", html: ReportHTML.table(
            header: ["#", "layer", "w bits", "a bits", "points", "network dB", "input dB", "alone dB",
                     "weights alone dB", "input alone dB"],
            rows: d.layers.map { l in
                ["\(l.index)", l.name, l.wbits.map(String.init) ?? "float", l.abits.map(String.init) ?? "float",
                 l.points.map { String(format: "%.2f", $0) } ?? "-", db(l.sqnrDB), db(l.inputSQNRDB), db(l.aloneSQNRDB),
                 db(l.weightsAloneSQNRDB), db(l.activationsAloneSQNRDB)]
            })))
        return ReportHTML.page(title: "Quantization diagnosis", intro: "Written by <code>mpq diagnose</code>: where "
            + "the quantized model loses accuracy against its float model, and what to change.", sections: sections)
    }
}

/// The diagnosis charts (self-contained `<svg>` elements, the sensitivity report's style).
public enum DiagnosisSVG {
    static let fmt = ReportSVG.fmt
    static let text = ReportSVG.text

    /// Horizontal bars: mAP of each variant (points) with its 95% interval as an error bar, the float mAP as a
    /// dashed line.
    public static func mapBars(_ d: Diagnosis) -> String {
        let labelW = 270.0, plotW = 480.0, top = 40.0, rowH = 24.0, bottom = 40.0
        let height = top + rowH * Double(d.variants.count) + bottom
        let values = d.variants.flatMap { v in [v.map, v.mapCI95?.lo, v.mapCI95?.hi].compactMap { $0 } }.map { $0 * 100 }
        let hi = min(100, (values.max() ?? 100) + 2), lo = max(0, min(values.min() ?? 0, hi - 1) - 5)
        func x(_ v: Double) -> Double { labelW + (v - lo) / max(hi - lo, 1e-9) * plotW }
        var s = ReportSVG.svgHeader(width: labelW + plotW + 60, height: height)
        s += text(10, 20, "mAP of each variant (points; bars: 95% paired bootstrap interval)", 14, "start", "bold")
        for t in ReportSVG.niceTicks(lo: lo, hi: hi) {
            s += "<line x1=\"\(fmt(x(t), 1))\" y1=\"\(fmt(top - 4, 1))\" x2=\"\(fmt(x(t), 1))\" y2=\"\(fmt(height - bottom, 1))\" "
                + "stroke=\"#ddd\" stroke-width=\"1\"/>"
            s += text(x(t), height - bottom + 14, fmt(t, 0), 10, "middle", "normal")
        }
        if let f = d.variant("float")?.map {
            s += "<line x1=\"\(fmt(x(f * 100), 1))\" y1=\"\(fmt(top - 4, 1))\" x2=\"\(fmt(x(f * 100), 1))\" "
                + "y2=\"\(fmt(height - bottom, 1))\" stroke=\"#1f77b4\" stroke-dasharray=\"4 3\"/>"
        }
        s += text(labelW + plotW / 2, height - 8, "mAP (points)", 11, "middle", "normal")
        for (i, v) in d.variants.enumerated() {
            let y0 = top + Double(i) * rowH
            s += text(labelW - 6, y0 + rowH / 2 + 4, DiagnosisFiles.label(v.name), 11, "end", "normal")
            guard let m = v.map else { continue }
            let color = v.name == "float" ? "#1f77b4" : v.name == "quantized" ? "#d62728" : "#999999"
            s += "<rect x=\"\(fmt(x(lo), 1))\" y=\"\(fmt(y0 + 4, 1))\" width=\"\(fmt(max(x(m * 100) - x(lo), 0.5), 1))\" "
                + "height=\"\(fmt(rowH - 8, 1))\" fill=\"\(color)\"><title>\(ReportSVG.escape(v.name)): "
                + "\(fmt(m * 100, 2))</title></rect>"
            var labelX = x(m * 100) + 4
            if let ci = v.mapCI95 {
                let yc = y0 + rowH / 2
                s += "<line x1=\"\(fmt(x(ci.lo * 100), 1))\" y1=\"\(fmt(yc, 1))\" x2=\"\(fmt(x(ci.hi * 100), 1))\" "
                    + "y2=\"\(fmt(yc, 1))\" stroke=\"#000\" stroke-width=\"1.2\"/>"
                for e in [ci.lo, ci.hi] {
                    s += "<line x1=\"\(fmt(x(e * 100), 1))\" y1=\"\(fmt(yc - 4, 1))\" x2=\"\(fmt(x(e * 100), 1))\" "
                        + "y2=\"\(fmt(yc + 4, 1))\" stroke=\"#000\" stroke-width=\"1.2\"/>"
                }
                labelX = max(labelX, x(ci.hi * 100) + 4)
            }
            s += text(labelX, y0 + rowH / 2 + 4, fmt(m * 100, 2), 10, "start", "normal")
        }
        return s + "</svg>\n"
    }

    /// SQNR (dB) at every conv in execution order: the network's accumulated error (red) and each quantized
    /// conv alone (blue dots); float convs get a grey tick at the bottom. Capped values are drawn at the top.
    public static func sqnrLines(_ d: Diagnosis) -> String {
        let left = 60.0, plotW = max(600.0, 9.0 * Double(d.layers.count)), top = 50.0, plotH = 300.0, bottom = 50.0
        let shown = d.layers.flatMap { [$0.sqnrDB] + ($0.isQuantized ? [$0.aloneSQNRDB] : []) }
            .filter { $0 < Diagnosis.sqnrCapDB }
        let hi = min(Diagnosis.sqnrCapDB, ((shown.max() ?? 60) / 10).rounded(.up) * 10 + 10)
        let lo = min(0, ((shown.min() ?? 0) / 10).rounded(.down) * 10)
        let n = max(d.layers.count - 1, 1)
        func x(_ i: Int) -> Double { left + Double(i) / Double(n) * plotW }
        func y(_ v: Double) -> Double { top + (hi - min(v, hi)) / max(hi - lo, 1e-9) * plotH }
        var s = ReportSVG.svgHeader(width: left + plotW + 40, height: top + plotH + bottom)
        s += text(10, 20, "SQNR along the network (dB, higher = closer to float)", 14, "start", "bold")
        s += "<circle cx=\"20\" cy=\"33\" r=\"4\" fill=\"#d62728\"/>"
        s += text(28, 37, "network (accumulated)", 11, "start", "normal")
        s += "<circle cx=\"190\" cy=\"33\" r=\"3\" fill=\"#1f77b4\"/>"
        s += text(198, 37, "layer alone (its own error)", 11, "start", "normal")
        for t in ReportSVG.niceTicks(lo: lo, hi: hi) {
            s += "<line x1=\"\(fmt(left, 1))\" y1=\"\(fmt(y(t), 1))\" x2=\"\(fmt(left + plotW, 1))\" y2=\"\(fmt(y(t), 1))\" "
                + "stroke=\"\(t == 0 ? "#000" : "#ddd")\"/>"
            s += text(left - 6, y(t) + 3, fmt(t, 0), 10, "end", "normal")
        }
        s += text(left + plotW / 2, top + plotH + 36, "conv in execution order (hover for names)", 11, "middle", "normal")
        var path = ""
        for (i, l) in d.layers.enumerated() {
            path += (i == 0 ? "M" : " L") + "\(fmt(x(i), 1)) \(fmt(y(l.sqnrDB), 1))"
            if i % max(1, d.layers.count / 10) == 0 {
                s += text(x(i), top + plotH + 16, "\(i)", 10, "middle", "normal")
            }
        }
        s += "<path d=\"\(path)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>"
        for (i, l) in d.layers.enumerated() {
            let tip = "<title>\(ReportSVG.escape(l.name)): network \(DiagnosisFiles.db(l.sqnrDB)) dB, alone "
                + "\(DiagnosisFiles.db(l.aloneSQNRDB)) dB</title>"
            s += "<circle cx=\"\(fmt(x(i), 1))\" cy=\"\(fmt(y(l.sqnrDB), 1))\" r=\"2.5\" fill=\"#d62728\">\(tip)</circle>"
            if l.isQuantized {
                s += "<circle cx=\"\(fmt(x(i), 1))\" cy=\"\(fmt(y(l.aloneSQNRDB), 1))\" r=\"3\" fill=\"#1f77b4\">\(tip)</circle>"
            } else {
                s += "<line x1=\"\(fmt(x(i), 1))\" y1=\"\(fmt(top + plotH - 6, 1))\" x2=\"\(fmt(x(i), 1))\" "
                    + "y2=\"\(fmt(top + plotH, 1))\" stroke=\"#999\">\(tip)</line>"
            }
        }
        // The worst layers by name.
        let byName = Dictionary(d.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for f in d.whatBroke.prefix(3) {
            guard let l = byName[f.layer] else { continue }
            s += text(x(l.index) + 5, y(l.aloneSQNRDB) + 4, "#\(f.rank) \(l.name)", 10, "start", "normal")
        }
        return s + "</svg>\n"
    }

    /// Paired bars per class: float AP (blue) and quantized AP (red), points.
    public static func classBars(_ d: Diagnosis) -> String {
        let labelW = 140.0, plotW = 480.0, top = 46.0, rowH = 22.0, bottom = 36.0
        let height = top + rowH * Double(d.classes.count) + bottom
        func x(_ v: Double) -> Double { labelW + v / 100 * plotW }
        var s = ReportSVG.svgHeader(width: labelW + plotW + 70, height: height)
        s += text(10, 20, "AP per class (points)", 14, "start", "bold")
        s += "<rect x=\"10\" y=\"28\" width=\"12\" height=\"10\" fill=\"#1f77b4\"/>"
        s += text(26, 37, "float", 11, "start", "normal")
        s += "<rect x=\"80\" y=\"28\" width=\"12\" height=\"10\" fill=\"#d62728\"/>"
        s += text(96, 37, "quantized", 11, "start", "normal")
        for t in stride(from: 0.0, through: 100, by: 20) {
            s += "<line x1=\"\(fmt(x(t), 1))\" y1=\"\(fmt(top - 4, 1))\" x2=\"\(fmt(x(t), 1))\" y2=\"\(fmt(height - bottom, 1))\" "
                + "stroke=\"#ddd\"/>"
            s += text(x(t), height - bottom + 14, fmt(t, 0), 10, "middle", "normal")
        }
        for (i, c) in d.classes.enumerated() {
            let y0 = top + Double(i) * rowH
            s += text(labelW - 6, y0 + rowH / 2 + 4, c.name, 11, "end", "normal")
            for (k, (ap, color)) in [(c.apFP32, "#1f77b4"), (c.apQuantized, "#d62728")].enumerated() {
                guard let ap else { continue }
                let yb = y0 + 3 + Double(k) * (rowH - 6) / 2
                s += "<rect x=\"\(fmt(labelW, 1))\" y=\"\(fmt(yb, 1))\" width=\"\(fmt(max(x(ap * 100) - labelW, 0.5), 1))\" "
                    + "height=\"\(fmt((rowH - 6) / 2 - 0.5, 1))\" fill=\"\(color)\"><title>\(ReportSVG.escape(c.name)): "
                    + "\(fmt(ap * 100, 2))</title></rect>"
            }
            s += text(x(max(c.apFP32 ?? 0, c.apQuantized ?? 0) * 100) + 4, y0 + rowH / 2 + 4,
                      DiagnosisFiles.signed(c.delta), 10, "start", "normal")
        }
        return s + "</svg>\n"
    }
}
