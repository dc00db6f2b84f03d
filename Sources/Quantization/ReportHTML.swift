import Foundation

/// A self-contained HTML page (inline CSS and SVG, no scripts, no external files) for the reports of
/// `mpq sensitivity` and `mpq demo`.
public enum ReportHTML {
    public struct Section: Sendable {
        public let title: String
        /// Trusted HTML (built by this module; user text must go through `ReportSVG.escape`).
        public let html: String

        public init(title: String, html: String) {
            self.title = title
            self.html = html
        }
    }

    public static func page(title: String, intro: String, sections: [Section]) -> String {
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(ReportSVG.escape(title))</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 16px;
               color: #222; line-height: 1.45; }
        h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px;
               border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        table { border-collapse: collapse; margin: 10px 0; font-size: 13px; }
        th, td { border: 1px solid #ccc; padding: 3px 9px; text-align: left; }
        th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr:nth-child(even) td { background: #fafafa; }
        .chart { overflow-x: auto; margin: 8px 0; } .note { color: #555; font-size: 13px; }
        code { background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
        </style></head><body>
        <h1>\(ReportSVG.escape(title))</h1>
        <p class="note">\(intro)</p>

        """
        for section in sections {
            s += "<h2>\(ReportSVG.escape(section.title))</h2>\n\(section.html)\n"
        }
        return s + "</body></html>\n"
    }

    /// A table; cells are escaped.
    public static func table(header: [String], rows: [[String]]) -> String {
        var s = "<table><thead><tr>" + header.map { "<th>\(ReportSVG.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in rows {
            s += "<tr>" + row.map { cell in
                let numeric = Double(cell.split(separator: " ").first.map(String.init) ?? "") != nil || cell == "inf"
                return (numeric ? "<td class=\"num\">" : "<td>") + ReportSVG.escape(cell) + "</td>"
            }.joined() + "</tr>\n"
        }
        return s + "</tbody></table>"
    }

    /// Key-value settings as a two-column table.
    public static func settings(_ pairs: [(String, String)]) -> String {
        table(header: ["setting", "value"], rows: pairs.map { [$0.0, $0.1] })
    }

    /// The sections of a sensitivity report: explanation, ranked table, the two charts.
    public static func sensitivitySections(_ report: SensitivityReport, settings pairs: [(String, String)],
                                           top: Int? = nil) -> [Section] {
        let ranked = report.ranked
        let shown = top.map { Array(ranked.prefix($0)) } ?? ranked
        let explanation = """
        <p>Each convolution is quantized <b>alone</b> (all other layers stay in float) at each weight bit width,
        then the detector is scored: <b>mAP drop</b> = float mAP − mAP with that layer quantized, on the evaluation
        images (positive = worse; small negative values are noise), and <b>SQNR</b> = 10·log10(‖y‖² / ‖ŷ − y‖²)
        of the raw detector outputs (class logits and box offsets of every prior) on calibration images, a label-free
        proxy (higher = closer to float). Layers at the top of the ranking are the ones to keep at more bits.</p>
        """
        var sections = [Section(title: "What this shows", html: explanation + (pairs.isEmpty ? "" : settings(pairs)))]
        let bits = report.layers.first?.results.map(\.bits) ?? []
        let header = ["rank", "layer", "params", "MACs"] + bits.flatMap { ["drop @\($0)b", "SQNR @\($0)b"] }
        let rows = shown.enumerated().map { i, layer in
            ["\(i + 1)", layer.name, "\(layer.params)", "\(layer.macs)"]
                + layer.results.flatMap { r in
                    [ReportSVG.fmt(r.mapDrop * 100, 2), r.sqnrDB.map { ReportSVG.fmt($0, 1) + " dB" } ?? "inf"]
                }
        }
        let caption = top.map { "<p class=\"note\">The \(min($0, ranked.count)) most sensitive of "
            + "\(ranked.count) layers (mAP drop in points, ×100); all layers are in sensitivity.csv.</p>" }
            ?? "<p class=\"note\">mAP drop in points (×100), most sensitive first.</p>"
        sections.append(Section(title: "mAP drop per layer",
                                html: "<div class=\"chart\">\(ReportSVG.mapDropBars(report))</div>"))
        sections.append(Section(title: "Heat map: layers × bits",
                                html: "<div class=\"chart\">\(ReportSVG.heatMap(report))</div>"))
        sections.append(Section(title: "Most sensitive layers", html: caption + table(header: header, rows: rows)))
        return sections
    }
}
