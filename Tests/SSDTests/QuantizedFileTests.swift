import Checkpoints
import Foundation
import Tensors
import XCTest
@testable import SSD

/// `SSDModel.load` of a quantized model file (format v1, as earlier versions wrote it): one conv stored as two points per channel,
/// built here by hand, must come back as Σ a·q and the rest of the network unchanged.
final class QuantizedFileTests: XCTestCase {
    private func model() throws -> SSDModel {
        let c = try ParityFixtures.testCase("small-mb2-w0.25-c3")
        let (dict, _) = try Checkpoint.load(try ParityFixtures.parity.appendingPathComponent(try XCTUnwrap(c.file)))
        return try SSDModel(loading: dict, file: c.name)
    }

    /// Writes `folded` with conv `name` replaced by two 4-bit points per channel; returns the file and the
    /// expected weight (0 + s1·q1 + s2·q2 per element, the reader's order, so equality is exact).
    private func write(_ folded: StateDict, name: String, points: [Int32]? = nil) throws -> (URL, [Float]) {
        let w = try XCTUnwrap(folded[name + ".weight"])
        let values = try w.floats(), o = w.shape[0], d = values.count / o
        var codes: [Int8] = [], scales: [Float] = [], expected = [Float](repeating: 0, count: values.count)
        for c in 0..<o {
            let row = Array(values[(c * d)..<((c + 1) * d)])
            let s1 = max(row.map(abs).max() ?? 0, 1e-8) / 7
            let q1 = row.map { Int8(max(-8, min(7, ($0 / s1).rounded()))) }
            let residual = zip(row, q1).map { $0 - s1 * Float($1) }
            let s2 = max(residual.map(abs).max() ?? 0, 1e-8) / 7
            let q2 = residual.map { Int8(max(-8, min(7, ($0 / s2).rounded()))) }
            codes += q1 + q2
            scales += [s1, s2]
            for j in 0..<d { expected[c * d + j] = (0 + s1 * Float(q1[j])) + s2 * Float(q2[j]) }
        }
        var dict = StateDict()
        for key in folded.keys where key != name + ".weight" { dict.set(key, try XCTUnwrap(folded[key])) }
        dict.set(name + ".codes", StoredTensor(int8s: codes, shape: [2 * o, d]))
        dict.set(name + ".scales", StoredTensor(floats: scales, shape: [2 * o]))
        dict.set(name + ".points", StoredTensor(int32s: points ?? [Int32](repeating: 2, count: o), shape: [o]))
        dict.set(name + ".shape", StoredTensor(int64s: w.shape.map { Int64($0) }, shape: [w.shape.count]))
        dict.set(name + ".act_range", StoredTensor(floats: [0, 6], shape: [2]))
        dict.metadata = folded.metadata
        dict.metadata.merge(Self.legacyMetadata(layers: [name], abits: 8)) { $1 }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("q-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(dict, to: url)
        return (url, expected)
    }

    /// The metadata `mpq quantize` wrote in format v1 for 4-bit layers.
    static func legacyMetadata(layers: [String], abits: Int) -> [String: String] {
        ["format": QuantizedFile.legacyFormat, "method": "multipoint", "wbits": "4", "abits": "\(abits)",
         "quantized_layers": layers.joined(separator: ","), "layer_bits": layers.map { _ in "4" }.joined(separator: ","),
         "arch": "mb2-ssd-lite", "source_sha256": "", "toolkit_version": "test"]
    }

    func testLoadReconstructsPointsAndKeepsTheRest() throws {
        let original = try model()
        let folded = original.foldedStateDict()
        let name = try XCTUnwrap(original.convolutions.dropFirst(3).first?.name)
        let (url, expected) = try write(folded, name: name)
        let loaded = try SSDModel.load(contentsOf: url).model.foldedStateDict()
        XCTAssertEqual(loaded.keys, folded.keys)
        for key in folded.keys {
            if key == name + ".weight" {
                XCTAssertEqual(try XCTUnwrap(loaded[key]).floats(), expected)
                XCTAssertNotEqual(try XCTUnwrap(loaded[key]).floats(), try XCTUnwrap(folded[key]).floats())
            } else {
                XCTAssertEqual(loaded[key], folded[key], key)
            }
        }
        let file = try QuantizedFile(reading: try SafeTensors.read(url), file: url.path)
        XCTAssertEqual(file.formatVersion, QuantizedFile.legacyFormat)
        XCTAssertEqual(file.inputQuantization?.grids[name], .init(scale: 6 / 255, qmin: 0, qmax: 255))
    }

    func testInconsistentPointsAreRefusedNamingTheKey() throws {
        let original = try model()
        let name = try XCTUnwrap(original.convolutions.dropFirst(3).first?.name)
        let o = try XCTUnwrap(original.foldedStateDict()[name + ".weight"]).shape[0]
        var points = [Int32](repeating: 2, count: o)
        points[0] = 1  // Σ points = 2·o - 1 ≠ rows
        let (url, _) = try write(original.foldedStateDict(), name: name, points: points)
        XCTAssertThrowsError(try SSDModel.load(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains(name + ".scales"), "\(error)")
        }
    }

    /// Hand-computed: one output channel, C_in = 2, 1×1 kernel, map [0, 1, 0] (input channel 0 split once).
    /// Row 1 (scale 0.5, codes 3, -2, 1): channel 0 gets 0.5·(3 + 1) = 2, channel 1 gets 0.5·(-2) = -1.
    /// Row 2 (scale 0.25, codes 1, 1, -1): + 0.25·0 and + 0.25·1, so ŵ = (2, -0.75).
    func testSplitCodesFoldOntoTheirInputChannels() {
        let w = QuantizedConvWeights.reconstruct(codes: [3, -2, 1, 1, 1, -1], scales: [0.5, 0.25], pointCounts: [2],
                                                 rowLength: 3, inputChannels: 2, kernelSize: 1,
                                                 inputChannelMap: [0, 1, 0])
        XCTAssertEqual(w, [2, -0.75])
        XCTAssertEqual(QuantizedConvWeights.reconstruct(codes: [3, -2], scales: [0.5], pointCounts: [1], rowLength: 2,
                                                        inputChannels: 2, kernelSize: 1, inputChannelMap: nil), [1.5, -1])
    }

    /// An OCS layer in the file (codes over C_in + 1 channels, `.input_map`) loads as the folded weight; a map
    /// entry outside the conv's input channels is refused naming the key.
    func testInputMapLoadsFoldedAndBadMapIsRefused() throws {
        let original = try model()
        let unit = try XCTUnwrap(original.convolutions.first { $0.conv.groups == 1 && $0.conv.kernelH == 3 })
        let o = unit.conv.outChannels, cIn = unit.conv.inChannels, k = 9
        let map = Array(0..<cIn) + [0]
        var codes: [Int8] = [], expected = [Float](repeating: 0, count: o * cIn * k)
        let scales = (0..<o).map { Float($0 + 1) / 64 }
        for c in 0..<o {
            let row = (0..<(map.count * k)).map { Int8(($0 * 7 + c * 3) % 15 - 7) }
            codes += row
            for j in 0..<cIn {
                for i in 0..<k {
                    let copies = map.indices.filter { map[$0] == j }.reduce(0) { $0 + Int(row[$1 * k + i]) }
                    expected[(c * cIn + j) * k + i] = scales[c] * Float(copies)
                }
            }
        }
        func file(_ inputMap: [Int]) throws -> URL {
            var dict = original.foldedStateDict()
            _ = dict.remove(unit.name + ".weight")
            dict.set(unit.name + ".codes", StoredTensor(int8s: codes, shape: [o, map.count * k]))
            dict.set(unit.name + ".scales", StoredTensor(floats: scales, shape: [o]))
            dict.set(unit.name + ".points", StoredTensor(int32s: [Int32](repeating: 1, count: o), shape: [o]))
            dict.set(unit.name + ".shape", StoredTensor(int64s: unit.conv.weight.shape.map { Int64($0) }, shape: [4]))
            dict.set(unit.name + ".input_map", StoredTensor(int32s: inputMap.map { Int32($0) }, shape: [inputMap.count]))
            dict.metadata.merge(Self.legacyMetadata(layers: [unit.name], abits: 32)) { $1 }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("q-\(UUID().uuidString).safetensors")
            addTeardownBlock { try? FileManager.default.removeItem(at: url) }
            try SafeTensors.write(dict, to: url)
            return url
        }
        let loaded = try SSDModel.load(contentsOf: try file(map)).model
        XCTAssertEqual(loaded.convolutions.first { $0.name == unit.name }?.conv.weight.data, expected)
        XCTAssertThrowsError(try SSDModel.load(contentsOf: try file(Array(0..<cIn) + [cIn]))) {
            XCTAssertTrue("\($0)".contains(unit.name + ".input_map"), "\($0)")
        }
    }
}
