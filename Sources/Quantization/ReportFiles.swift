import Foundation
import SafeIO

/// The files of a sensitivity report: `sensitivity.json`, `.csv`, `.md`, `sensitivity_map_drop.svg`,
/// `sensitivity_heatmap.svg` and `report.html`, written atomically into one folder.
public enum SensitivityReportFiles {
    public static func json(_ report: SensitivityReport) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(report)
        data.append(0x0A)
        return data
    }

    /// One row per (layer, bits), layers in execution order; empty `sqnr_db` = infinite (unchanged outputs).
    public static func csv(_ report: SensitivityReport) -> String {
        var s = "layer,params,macs,bits,map,map_drop,sqnr_db\n"
        for layer in report.layers {
            for r in layer.results {
                s += "\(layer.name),\(layer.params),\(layer.macs),\(r.bits),\(ReportSVG.fmt(r.map, 6)),"
                    + "\(ReportSVG.fmt(r.mapDrop, 6)),\(r.sqnrDB.map { ReportSVG.fmt($0, 3) } ?? "")\n"
            }
        }
        return s
    }

    /// Ranked Markdown table, most sensitive layer first.
    public static func markdown(_ report: SensitivityReport, settings: [(String, String)]) -> String {
        let bits = report.layers.first?.results.map(\.bits) ?? []
        var s = "# Layer sensitivity\n\n"
        for (k, v) in settings { s += "- \(k): \(v)\n" }
        s += "- float mAP: \(ReportSVG.fmt(report.mapFP32 * 100, 2))\n\n"
        s += "Each layer quantized alone; mAP drop in points (float − quantized, ×100), SQNR of the raw detector "
            + "outputs in dB. Ranked by the largest drop.\n\n"
        s += "| rank | layer | params | MACs | " + bits.map { "drop @\($0)b | SQNR @\($0)b" }.joined(separator: " | ")
            + " |\n"
        s += "|---:|---|---:|---:|" + String(repeating: "---:|---:|", count: bits.count) + "\n"
        for (i, layer) in report.ranked.enumerated() {
            s += "| \(i + 1) | \(layer.name) | \(layer.params) | \(layer.macs) | "
                + layer.results.map { r in
                    "\(ReportSVG.fmt(r.mapDrop * 100, 2)) | \(r.sqnrDB.map { ReportSVG.fmt($0, 1) } ?? "inf")"
                }.joined(separator: " | ") + " |\n"
        }
        return s
    }

    public static let fileNames = ["sensitivity.json", "sensitivity.csv", "sensitivity.md", "sensitivity_map_drop.svg",
                                   "sensitivity_heatmap.svg", "report.html"]

    /// Writes every file into `folder` (created if needed), each atomically.
    /// - Parameters:
    ///   - html: false leaves out `report.html` (the demo writes its own page around the same sections).
    /// - Returns: the URLs written.
    @discardableResult
    public static func write(_ report: SensitivityReport, settings: [(String, String)], to folder: URL,
                             html: Bool = true) throws -> [URL] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var files: [(String, Data)] = [
            ("sensitivity.json", try json(report)),
            ("sensitivity.csv", Data(csv(report).utf8)),
            ("sensitivity.md", Data(markdown(report, settings: settings).utf8)),
            ("sensitivity_map_drop.svg", Data(ReportSVG.mapDropBars(report).utf8)),
            ("sensitivity_heatmap.svg", Data(ReportSVG.heatMap(report).utf8)),
        ]
        if html {
            let page = ReportHTML.page(title: "Layer sensitivity", intro: "Written by <code>mpq sensitivity</code>.",
                                       sections: ReportHTML.sensitivitySections(report, settings: settings))
            files.append(("report.html", Data(page.utf8)))
        }
        var urls: [URL] = []
        for (name, data) in files {
            let url = folder.appendingPathComponent(name)
            try AtomicFile.write(data, to: url)
            urls.append(url)
        }
        return urls
    }
}
