import Foundation
import VOC

/// Finds the data shipped in the repository: the demo dataset `VOCdevkit/MPQDemo` (with `labels.txt`) and the
/// demo detector `VOCdevkit/MPQDemo/model/mb2-ssd-lite-demo.pth`, from any current directory.
///
/// Candidates, first match wins: `$MPQ_HOME` (the repository root), the source tree this binary was built from
/// (`#filePath`), the folders above the executable (`.build/<config>/mpq` sits inside the repository), then the
/// current directory and its parents.
public enum EmbeddedDemo {
    static let datasetPath = "VOCdevkit/MPQDemo"
    static let modelPath = "VOCdevkit/MPQDemo/model/mb2-ssd-lite-demo.pth"

    struct Location {
        let root: URL
        /// How it was found, for the one-line note ("$MPQ_HOME", "the build's source tree", ...).
        let via: String
        var dataset: URL { root.appendingPathComponent(EmbeddedDemo.datasetPath) }
        var model: URL { root.appendingPathComponent(EmbeddedDemo.modelPath) }
    }

    static func isRoot(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent(datasetPath + "/labels.txt").path)
    }

    static func ancestors(of url: URL) -> [URL] {
        var out: [URL] = []
        var u = url.standardizedFileURL
        for _ in 0..<12 {
            out.append(u)
            let parent = u.deletingLastPathComponent()
            if parent.path == u.path { break }
            u = parent
        }
        return out
    }

    /// The repository root holding the demo data.
    /// - Throws: `DemoDataError` listing where it looked.
    static func locate(filePath: String = #filePath) throws -> Location {
        let env = ProcessInfo.processInfo.environment
        if let home = env["MPQ_HOME"], !home.isEmpty {
            let url = URL(fileURLWithPath: home)
            guard isRoot(url) else {
                throw DemoDataError(message: "MPQ_HOME=\(home) does not contain \(datasetPath)/labels.txt")
            }
            return Location(root: url, via: "$MPQ_HOME")
        }
        var candidates: [(URL, String)] = []
        // Sources/Workflows/EmbeddedDemo.swift -> repository root.
        let source = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append((source, "the source tree the binary was built from"))
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates += ancestors(of: exe.deletingLastPathComponent()).map { ($0, "the executable's location") }
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        candidates += ancestors(of: cwd).map { ($0, "the current directory") }
        for (url, via) in candidates where isRoot(url) { return Location(root: url, via: via) }
        throw DemoDataError(message: "cannot find the embedded demo data (\(datasetPath)/labels.txt) in $MPQ_HOME, "
            + "the build's source tree, above the executable or above the current directory; set MPQ_HOME to the "
            + "repository root or pass --voc-root and --model")
    }

    /// `--model` and `--voc-root` with the embedded demo model / dataset for each one omitted (every command
    /// taking them), saying so in one line on standard error.
    /// - Parameters:
    ///   - datasetNeeded: false for commands without a dataset (`detect`): only the model falls back.
    /// - Returns: the model file and the dataset folder (nil when not needed and not given).
    /// - Throws: `DemoDataError` when the embedded data is needed but cannot be found.
    public static func resolve(model: String?, vocRoot: String?, datasetNeeded: Bool = true) throws
        -> (model: URL, root: URL?) {
        let missing = [model == nil ? "model" : nil, datasetNeeded && vocRoot == nil ? "dataset" : nil]
            .compactMap { $0 }
        var location: Location?
        if !missing.isEmpty {
            let found = try locate()
            location = found
            Output.note("using the embedded demo \(missing.joined(separator: " and ")) from \(found.root.path) "
                + "(found via \(found.via))")
        }
        let root = vocRoot.map { URL(fileURLWithPath: $0) } ?? (datasetNeeded ? location?.dataset : nil)
        guard let modelURL = model.map({ URL(fileURLWithPath: $0) }) ?? location?.model else {
            throw DemoDataError(message: "no model given and no embedded demo model found")
        }
        return (modelURL, root)
    }

    /// Calibration image ids: `ImageSets/Main/calib.txt` when the dataset has it, else `preferredSplit`
    /// (default trainval); only ids whose JPEG exists, never one of `excluding` (the evaluation images), at most
    /// `count`, in split order.
    /// - Returns: the ids and a sentence saying where they came from.
    static func calibrationIDs(root: URL, classes: ClassList, preferredSplit: String, count: Int,
                               excluding: Set<String>, preferCalibFile: Bool) throws -> (ids: [String], source: String) {
        let calibFile = root.appendingPathComponent("ImageSets/Main/calib.txt")
        let split = preferCalibFile && FileManager.default.fileExists(atPath: calibFile.path) ? "calib" : preferredSplit
        let dataset = try VOCDataset(root: root, split: split, classes: classes)
        var ids: [String] = [], skippedMissing = 0
        for id in dataset.imageIDs where !excluding.contains(id) {
            guard ids.count < count else { break }
            if FileManager.default.fileExists(atPath: dataset.imageURL(id).path) {
                ids.append(id)
            } else {
                skippedMissing += 1
            }
        }
        guard !ids.isEmpty else {
            throw DemoDataError(message: "\(root.path)/ImageSets/Main/\(split).txt: none of its images (outside the "
                + "evaluation images) has a JPEG in JPEGImages, so there is nothing to calibrate on")
        }
        let missing = skippedMissing > 0 ? ", \(skippedMissing) listed images without a JPEG skipped" : ""
        return (ids, "\(ids.count) images of split '\(split)'\(missing)")
    }
}

struct DemoDataError: LocalizedError, CustomStringConvertible {
    let message: String
    var errorDescription: String? { message }
    var description: String { message }
}

/// A one-line progress bar on standard error when it is a terminal (redrawn at most 10 times a second),
/// otherwise a plain line every 10%.
final class StepProgress {
    private let label: String
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let start = Date()
    private var lastDraw = -1.0
    private var lastStep = -1

    init(_ label: String) { self.label = label }

    func update(_ done: Int, of total: Int, detail: String = "") {
        let elapsed = Date().timeIntervalSince(start)
        let finished = done >= total
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let timing = String(format: "%.0fs, ETA %.0fs", elapsed, eta)
        if isTerminal {
            guard finished || elapsed - lastDraw >= 0.1 else { return }
            lastDraw = elapsed
            let filled = Int(fraction * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
            FileHandle.standardError.write(Data(("\r\(label) [\(bar)] \(done)/\(total) \(timing) \(detail)\u{1B}[K"
                + (finished ? "\n" : "")).utf8))
        } else {
            let step = Int(fraction * 10)
            guard finished || step > lastStep else { return }
            lastStep = step
            Output.note("\(label): \(done)/\(total) (\(timing))")
        }
    }
}
