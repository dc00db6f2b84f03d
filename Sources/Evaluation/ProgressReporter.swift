import VOC
import Foundation

/// Progress of `EvaluationRunner` on standard error: a redrawn bar with images/s and ETA when stderr is a
/// terminal (`isatty`), otherwise plain lines (every 5% or 30 s) that read well in log files and CI.
public final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let isTerminal: Bool
    private let write: (String) -> Void
    private var lastDraw = -Double.infinity
    private var lastPercentStep = -1

    /// - Parameters:
    ///   - isTerminal: nil = ask `isatty(STDERR_FILENO)`.
    ///   - write: where text goes (stderr by default; tests capture it).
    public init(label: String, isTerminal: Bool? = nil, write: ((String) -> Void)? = nil) {
        self.label = label
        self.isTerminal = isTerminal ?? (isatty(STDERR_FILENO) != 0)
        self.write = write ?? { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// Images per second over the images this run processed itself (resumed ones took no time).
    static func rate(_ p: EvaluationRunner.Progress) -> Double? {
        let processed = p.done - p.resumed
        guard processed > 0, p.elapsed > 0 else { return nil }
        return Double(processed) / p.elapsed
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    /// "12.3 img/s, ETA 4m05s" (or "resumed n" at the start).
    static func speed(_ p: EvaluationRunner.Progress) -> String {
        guard let rate = rate(p) else { return p.resumed > 0 ? "resumed \(p.resumed)" : "starting" }
        let eta = Double(p.total - p.done) / rate
        return String(format: "%.1f img/s, ETA %@", rate, duration(eta))
    }

    public func update(_ p: EvaluationRunner.Progress) {
        let finished = p.done == p.total
        let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 1
        if isTerminal {
            // Redraw at most 10 times a second, always at the end.
            guard finished || p.elapsed - lastDraw >= 0.1 else { return }
            lastDraw = p.elapsed
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r\(label) [\(bar)] \(p.done)/\(p.total) \(Self.speed(p))\u{1B}[K" + (finished ? "\n" : ""))
        } else {
            let step = Int(fraction * 20)  // 5% steps
            guard finished || step > lastPercentStep || p.elapsed - lastDraw >= 30 else { return }
            lastPercentStep = step
            lastDraw = p.elapsed
            write(String(format: "%@: %d/%d images (%.1f%%), %@\n", label, p.done, p.total, fraction * 100,
                         Self.speed(p)))
        }
    }
}
