import Foundation
import Tensors
import VOC
import XCTest
@testable import SSD

/// Full-size networks with recipe weights against PyTorch (Scripts/gen_ssd_fixtures.py) on real VOC images:
/// softmax scores and decoded boxes within 1e-4, final detections equal.
final class ParityTests: XCTestCase {
    static let scoreTolerance: Float = 1e-4
    static let boxTolerance: Float = 1e-4

    func testRecipeGeneratorReproducesNumpyBitForBit() throws {
        for name in ["mb2-ssd-lite", "mb1-ssd", "vgg16-ssd", "ssd300-vgg16", "mb2-ssd-lite-w0.5"] {
            let recipe = try WeightRecipe(url: ParityFixtures.parity.appendingPathComponent("recipes/\(name).json"))
            XCTAssertGreaterThanOrEqual(recipe.file.checks.count, 3)
            for (key, expected) in recipe.file.checks {
                let got = try recipe.floatValues(of: key).prefix(expected.count)
                XCTAssertEqual(Array(got), expected.map { Float($0) }, "\(name) \(key)")
            }
        }
        // FNV-1a 64 of "a" (published test vector): 0xaf63dc4c8601ec8c.
        XCTAssertEqual(WeightRecipe.fnv1a64("a"), 0xAF63_DC4C_8601_EC8C)
    }

    /// Loads a recipe case, runs one image, compares with the golden arrays and detections.
    /// - Returns: measured max errors, for the log.
    @discardableResult
    static func check(_ name: String, image imageID: String? = nil, source: (any NamedTensorSource)? = nil,
                      file: StaticString = #filePath, line: UInt = #line) throws -> (scores: Float, boxes: Float) {
        let c = try ParityFixtures.testCase(name)
        let manifest = try ParityFixtures.manifest()
        let arch = try XCTUnwrap(Architecture(rawValue: c.arch))
        let src: any NamedTensorSource
        if let source {
            src = source
        } else {
            src = try WeightRecipe(url: ParityFixtures.parity.appendingPathComponent(try XCTUnwrap(c.recipe)))
        }
        let started = Date()
        let model = try SSDModel(loading: src, file: name)
        XCTAssertEqual(model.architecture, arch, file: file, line: line)
        XCTAssertEqual(model.classes, c.num_classes, file: file, line: line)
        let loaded = Date()
        let id = imageID ?? c.golden_image
        let image = try XCTUnwrap(manifest.images.first { $0.id == id })
        var worst: (Float, Float) = (0, 0)
        // Every executor must match PyTorch: our kernels, the oneDNN program, and the oneDNN program with the
        // Winograd 3x3 convs (the default on AVX2 CPUs; forced here wherever the CPU can run it).
        var executors: [(ForwardEngine, Bool)] = [(.native, false), (.onednn, false)]
        if OneDNNProgram.winogradSupported { executors.append((.onednn, true)) }
        for (engine, winograd) in executors {
        var workspace = SSDWorkspace(engine: engine, winograd: winograd)
        let head = model.forward(try ParityFixtures.input(image, arch: arch), workspace: &workspace)
        XCTAssertEqual(workspace.lastEngine, engine, "\(name) ran on \(workspace.engineNote ?? "?")", file: file, line: line)
        if engine == .onednn {
            // oneDNN's reference implementations ("ref:any") would be correct but 100x slower.
            XCTAssertFalse(workspace.engineImplementations.contains { $0.hasPrefix("ref") },
                           "\(name): \(workspace.engineImplementations)", file: file, line: line)
            let wino = workspace.engineImplementations.filter { $0 == "mpq:winograd_2x2_3x3:avx2" }.count
            let eligible = model.convolutions.filter { Self.winogradFits($0.conv) }.count
            // Every eligible conv runs as Winograd exactly when asked (heads included; the VGG trunk's 3x3 convs).
            XCTAssertEqual(wino, winograd ? eligible : 0, "\(name) Winograd convs", file: file, line: line)
        }
        let (scores, boxes) = model.scoresAndBoxes(head)
        let ran = Date()
        var errors: (Float, Float) = (0, 0)
        if id == c.golden_image {
            errors = (ParityFixtures.maxAbsDifference(scores, try ParityFixtures.floats(c.scores)),
                      ParityFixtures.maxAbsDifference(boxes, try ParityFixtures.floats(c.boxes)))
            XCTAssertLessThanOrEqual(errors.0, scoreTolerance, "\(name) scores", file: file, line: line)
            XCTAssertLessThanOrEqual(errors.1, boxTolerance, "\(name) boxes", file: file, line: line)
        }
        let got = model.detections(scores: scores, boxes: boxes, width: image.width, height: image.height)
        let want = try ParityFixtures.detections(try XCTUnwrap(c.detections[id]))
        XCTAssertEqual(got.count, want.count, "\(name) \(id) detection count", file: file, line: line)
        let (maxScore, maxBox, unmatched) = Self.match(got, want)
        XCTAssertEqual(unmatched, 0, "\(name) \(id): detections without a PyTorch counterpart", file: file, line: line)
        XCTAssertLessThanOrEqual(maxScore, 1e-5, "\(name) \(id) detection scores", file: file, line: line)
        XCTAssertLessThanOrEqual(maxBox, 0.02, "\(name) \(id) detection boxes (pixels)", file: file, line: line)
        let label = engine.rawValue + (winograd ? "+winograd" : "")
        print(String(format: "parity %@ %@ %@: scores %.2e boxes %.2e, detections %d (score %.1e, box %.1e px); "
                     + "load %.1f s, forward %.1f s", name, id, label, errors.0, errors.1, got.count, maxScore,
                     maxBox, loaded.timeIntervalSince(started), ran.timeIntervalSince(loaded)))
        worst = (max(worst.0, errors.0), max(worst.1, errors.1))
        }
        return worst
    }

    /// Whether a conv is one the Winograd kernels take (mpq_dnnl_winograd_fits).
    static func winogradFits(_ c: Conv2D) -> Bool {
        c.groups == 1 && c.kernelH == 3 && c.kernelW == 3 && c.stride == 1 && c.padding == 1 && c.dilation == 1
            && c.inChannels >= 8 && c.inChannels % 8 == 0
    }

    /// Pairs each detection with PyTorch's: same class, score within 1e-5, box within 0.02 px. Within a class the
    /// order is by score, and two scores closer than float noise (~1e-7) may come out swapped, so the match looks
    /// a few places either side instead of requiring the identical position.
    static func match(_ got: [Detection], _ want: [Detection]) -> (score: Float, box: Float, unmatched: Int) {
        var used = [Bool](repeating: false, count: want.count)
        var maxScore: Float = 0, maxBox: Float = 0, unmatched = 0
        func boxError(_ a: Detection, _ b: Detection) -> Float {
            max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2))
        }
        for (i, g) in got.enumerated() {
            let window = max(0, i - 3)..<min(want.count, i + 4)
            let candidate = window.first { j in
                !used[j] && want[j].classIndex == g.classIndex && abs(want[j].score - g.score) <= 1e-5
                    && boxError(want[j], g) <= 0.02
            }
            guard let j = candidate else {
                unmatched += 1
                continue
            }
            used[j] = true
            maxScore = max(maxScore, abs(want[j].score - g.score))
            maxBox = max(maxBox, boxError(want[j], g))
        }
        return (maxScore, maxBox, unmatched)
    }

    func testMobileNetV2SSDLite() throws { try Self.check("mb2-ssd-lite") }
    func testMobileNetV2SSDLiteWidthHalf() throws { try Self.check("mb2-ssd-lite-w0.5") }
    func testMobileNetV1SSD() throws { try Self.check("mb1-ssd") }
    func testVGG16SSD() throws { try Self.check("vgg16-ssd") }
    func testSSD300VGG16() throws { try Self.check("ssd300-vgg16") }

    /// The second image for every network (opt-in: MPQ_HEAVY_TESTS=1; the VGG forwards are slow in debug builds).
    func testSecondImageAllNetworks() throws {
        guard ParityFixtures.heavyTestsEnabled else {
            print("skipped testSecondImageAllNetworks: set MPQ_HEAVY_TESTS=1 to run (about 4 more full forwards)")
            return
        }
        for name in ["mb2-ssd-lite", "mb2-ssd-lite-w0.5", "mb1-ssd", "vgg16-ssd", "ssd300-vgg16"] {
            try Self.check(name, image: "000004")
        }
    }
}
