import Tensors
import XCTest
@testable import SSD

/// The heads of a source run from one patch matrix when no hook is given; with a hook each conv runs alone.
/// Both must give the same outputs bit for bit.
final class SharedHeadPatchesTests: XCTestCase {
    func testSharedHeadPatchesEqualSeparateHeads() throws {
        for name in ["small-mb1-c5", "small-vgg16-ssd-c6-fp16", "small-ssd300-c4", "small-mb2-w0.25-c3"] {
            let (model, x) = try ParityFixtures.smallModel(name)
            var ws = SSDWorkspace(engine: .native)
            let shared = model.forward(x, workspace: &ws)
            var seen = 0
            let separate = model.forward(x, workspace: &ws) { _, input in
                seen += 1
                return input
            }
            XCTAssertEqual(seen, model.convolutions.count, name)
            XCTAssertEqual(shared, separate, name)
            XCTAssertNotEqual(shared.confidences.filter { $0 != 0 }.count, 0, name)
        }
    }

    /// Plain 3x3 heads share; SSD-Lite's separable heads (depthwise first: no patch matrix) do not.
    func testWhichHeadsShare() throws {
        for name in ["small-mb1-c5", "small-vgg16-ssd-c6-fp16", "small-ssd300-c4"] {
            let heads = try XCTUnwrap(Self.heads(try ParityFixtures.smallModel(name).0), name)
            for i in 0..<6 { XCTAssertNotNil(heads.sharedPatchPair(source: i), "\(name) source \(i)") }
        }
        let mb2 = try XCTUnwrap(Self.heads(try ParityFixtures.smallModel("small-mb2-w0.25-c3").0))
        for i in 0..<6 { XCTAssertNil(mb2.sharedPatchPair(source: i), "mb2 source \(i)") }
    }

    static func heads(_ model: SSDModel) -> DetectionHeads? {
        switch model.network {
        case let net as MobileNetV1SSD: return net.heads
        case let net as VGG16SSD: return net.heads
        case let net as SSD300: return net.heads
        case let net as MobileNetV2SSDLite: return net.heads
        default: return nil
        }
    }
}
