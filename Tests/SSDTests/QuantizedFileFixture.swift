import Checkpoints
import Foundation
import XCTest
@testable import SSD

/// The valid quantized file the format and validation tests start from: two convs of the small parity network
/// (deterministic codes at `bits`; the second conv with 1-3 points per channel), inputs at `abits`.
enum QuantizedFileFixture {
    static func smallModel() throws -> SSDModel {
        let c = try ParityFixtures.testCase("small-mb2-w0.25-c3")
        let (dict, _) = try Checkpoint.load(try ParityFixtures.parity.appendingPathComponent(try XCTUnwrap(c.file)))
        return try SSDModel(loading: dict, file: c.name)
    }

    static func file(_ model: SSDModel, bits: Int = 4, abits: Int = 8) -> QuantizedFile {
        var floats = model.foldedStateDict()
        var convs: [QuantizedConv] = []
        let limit = (1 << (bits - 1)) - 1
        for (k, unit) in model.convolutions.prefix(2).enumerated() {
            let shape = unit.conv.weight.shape, o = shape[0], d = shape[1] * shape[2] * shape[3]
            let points = (0..<o).map { k == 0 ? 1 : 1 + $0 % 3 }, rows = points.reduce(0, +)
            let codes = (0..<(rows * d)).map { Int8(($0 * 7 + k) % (2 * limit + 1) - limit) }
            _ = floats.remove(unit.name + ".weight")
            _ = floats.remove(unit.name + ".bias")
            convs.append(QuantizedConv(name: unit.name, bits: bits, weightShape: shape, pointCounts: points,
                                       scales: (0..<rows).map { Float($0 % 5 + 1) / 100 }, codes: codes,
                                       bias: (0..<o).map { Float($0) / 10 }, inputChannelMap: nil,
                                       activation: abits < 32 ? .init(bits: abits, clip: 6, unsigned: k == 0) : nil))
        }
        return QuantizedFile(info: .init(method: "multipoint", wbits: bits, abits: abits, architecture: "mb2-ssd-lite",
                                         sourceSHA256: "ab", toolkitVersion: "t", classNames: ["a", "b"],
                                         preprocessing: "mobilenet"),
                             convs: convs, floats: floats)
    }
}

extension XCTestCase {
    /// `dict` as a safetensors file in the temporary folder, removed when the test ends.
    func writtenQuantizedFile(_ dict: StateDict) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("q-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(dict, to: url)
        return url
    }
}
