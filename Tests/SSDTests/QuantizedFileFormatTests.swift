import Checkpoints
import Foundation
import XCTest
@testable import SSD

/// Format v2 of the quantized model file: codes packed at their width (hand-computed bytes, every width), round
/// trips, the size of a packed full-width network, and one test per validation rule of the reader.
final class QuantizedFileFormatTests: XCTestCase {
    // MARK: packing

    /// Bits 0-2 = 1 (001), bits 3-5 = -1 (111), bits 6-8 = 3 (011): byte 0 = 1 + 7·8 + (3 & 3)·64 = 249, byte 1 =
    /// 3 >> 2 = 0. Four bits: -7 = 1001, 7 = 0111 → 0b0111_1001 = 121.
    func testPackingHandComputed() {
        XCTAssertEqual(CodePacking.pack([1, -1, 3], bits: 3), [249, 0])
        XCTAssertEqual(CodePacking.pack([-7, 7], bits: 4), [121])
        XCTAssertEqual(CodePacking.pack([-1, 1, 0, -2], bits: 2), [0b1000_0111])
        XCTAssertEqual(CodePacking.pack([-127, 127], bits: 8), [0x81, 0x7F])
        XCTAssertEqual(CodePacking.unpack([249, 0], count: 3, bits: 3), [1, -1, 3])
    }

    func testPackingRoundTripsEveryWidthAndLength() {
        var state: UInt64 = 42
        for bits in 2...8 {
            for count in [0, 1, 7, 8, 9, 63, 1000] {
                let limit = (1 << (bits - 1)) - 1
                let codes = (0..<count).map { _ -> Int8 in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return Int8(Int(state >> 33) % (2 * limit + 1) - limit)
                }
                let packed = CodePacking.pack(codes, bits: bits)
                XCTAssertEqual(packed.count, (count * bits + 7) / 8)
                XCTAssertEqual(CodePacking.unpack(packed, count: count, bits: bits), codes, "bits \(bits) count \(count)")
            }
        }
    }

    func testUnpackRefusesWrongLengthAndPaddingBits() {
        XCTAssertNil(CodePacking.unpack([0, 0], count: 3, bits: 2))   // 6 bits need 1 byte
        XCTAssertNil(CodePacking.unpack([0b0100_0000], count: 3, bits: 2))  // bit 6 is padding
        XCTAssertNotNil(CodePacking.unpack([0b0010_0000], count: 3, bits: 2))
    }

    // MARK: a valid file and its round trip




    func testVersion2RoundTripsEveryWidth() throws {
        let model = try QuantizedFileFixture.smallModel()
        for bits in 2...8 {
            let original = QuantizedFileFixture.file(model, bits: bits)
            let url = try writtenQuantizedFile(original.stateDict())
            let read = try QuantizedFile(reading: try SafeTensors.read(url), file: url.path)
            XCTAssertEqual(read.formatVersion, QuantizedFile.format)
            XCTAssertEqual(read.convs, original.convs, "bits \(bits)")
            XCTAssertEqual(read.info, original.info)
            let loaded = try QuantizedFile.load(url)
            XCTAssertEqual(loaded.model.convolutions.first?.conv.weight.data, original.convs[0].reconstructedWeight)
            XCTAssertEqual(loaded.quantized?.inputQuantization, original.inputQuantization)
        }
    }

    /// Codes, scales and biases of every conv of a full-width network at 4 bits, one point per channel: the file
    /// is at most 0.15x the fp32 (BatchNorm-folded) safetensors file of the same network.
    func testFourBitFullWidthFileIsUnderFifteenPercentOfFloat() throws {
        for keys in ["keys_mb2-ssd-lite", "keys_vgg16-ssd"] {
            let model = try SSDModel(loading: ArchitectureTests.source(keys), file: keys)
            let folded = model.foldedStateDict()
            var floats = folded
            let convs = model.convolutions.map { unit -> QuantizedConv in
                let shape = unit.conv.weight.shape, d = shape[1] * shape[2] * shape[3]
                _ = floats.remove(unit.name + ".weight")
                _ = floats.remove(unit.name + ".bias")
                return QuantizedConv(name: unit.name, bits: 4, weightShape: shape,
                                     pointCounts: [Int](repeating: 1, count: shape[0]),
                                     scales: [Float](repeating: 0.01, count: shape[0]),
                                     codes: [Int8](repeating: 3, count: shape[0] * d),
                                     bias: [Float](repeating: 0, count: shape[0]), inputChannelMap: nil,
                                     activation: .init(bits: 8, clip: 6, unsigned: true))
            }
            let q = QuantizedFile(info: .init(method: "rtn", wbits: 4, abits: 8, architecture: model.architecture.rawValue,
                                              sourceSHA256: "", toolkitVersion: "t"), convs: convs, floats: floats)
            let floatSize = try FileManager.default.attributesOfItem(atPath: try writtenQuantizedFile(folded).path)[.size] as? Int ?? 0
            let quantizedSize = try FileManager.default.attributesOfItem(atPath: try writtenQuantizedFile(q.stateDict()).path)[.size]
                as? Int ?? 0
            let ratio = Double(quantizedSize) / Double(floatSize)
            XCTAssertLessThanOrEqual(ratio, 0.15, "\(keys): \(quantizedSize) / \(floatSize)")
            XCTAssertGreaterThan(ratio, 0.125, "4-bit codes alone are 1/8 of fp32")
        }
    }

    // MARK: validation, one rule at a time

    /// Edits a valid file's dict, then expects the reader to refuse it naming `key` and a phrase of the rule.
    private func assertRefused(_ key: String, _ phrase: String, abits: Int = 8, file line: UInt = #line,
                               _ edit: (inout StateDict, QuantizedConv) throws -> Void) throws {
        let model = try QuantizedFileFixture.smallModel()
        let q = QuantizedFileFixture.file(model, abits: abits)
        var dict = q.stateDict()
        try edit(&dict, q.convs[1])
        let url = try writtenQuantizedFile(dict)
        XCTAssertThrowsError(try QuantizedFile.load(url), line: line) { error in
            let text = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            XCTAssertTrue(text.contains(url.path) && text.contains(key) && text.contains(phrase), text, line: line)
            XCTAssertFalse(text.contains("\n"), "one line", line: line)
        }
    }

    private func replace(_ dict: inout StateDict, _ key: String, floats: [Float]) {
        dict.set(key, StoredTensor(floats: floats, shape: [floats.count]))
    }

    func testCodeBeyondTheLayerWidthIsRefused() throws {
        // 4-bit two's complement can hold -8, which is outside the symmetric grid ±7.
        try assertRefused(".codes", "exceeds the layer's 4-bit grid ±7") { dict, conv in
            var codes = conv.codes
            codes[5] = -8
            let packed = CodePacking.pack(codes, bits: 4)
            dict.set(conv.name + ".codes", StoredTensor(uint8s: packed, shape: [packed.count]))
        }
        // Format v1 stores int8: 127 in a 4-bit layer.
        try assertRefused(".codes", "exceeds the layer's 4-bit grid ±7") { dict, conv in
            dict.metadata["format"] = QuantizedFile.legacyFormat
            for c in [conv] + [] {
                var codes = c.codes
                codes[0] = 127
                dict.set(c.name + ".codes", StoredTensor(int8s: codes, shape: [c.rows, c.rowLength]))
            }
            // The other conv must be v1 as well.
            let model = try QuantizedFileFixture.smallModel()
            let first = QuantizedFileFixture.file(model).convs[0]
            dict.set(first.name + ".codes", StoredTensor(int8s: first.codes, shape: [first.rows, first.rowLength]))
        }
    }

    func testBadScalesAreRefused() throws {
        for bad: Float in [.nan, .infinity, -0.5] {
            try assertRefused(".scales", "scales must be finite and ≥ 0") { dict, conv in
                var s = conv.scales
                s[3] = bad
                replace(&dict, conv.name + ".scales", floats: s)
            }
        }
        try assertRefused(".scales", "scale 0 but nonzero codes") { dict, conv in
            var s = conv.scales
            s[0] = 0
            replace(&dict, conv.name + ".scales", floats: s)
        }
        try assertRefused(".scales", "scales for") { dict, conv in
            replace(&dict, conv.name + ".scales", floats: Array(conv.scales.dropLast()))
        }
    }

    func testBadBiasIsRefused() throws {
        try assertRefused(".bias", "biases must be finite") { dict, conv in
            var b = conv.bias
            b[1] = .nan
            replace(&dict, conv.name + ".bias", floats: b)
        }
        try assertRefused(".bias", "values for") { dict, conv in
            replace(&dict, conv.name + ".bias", floats: conv.bias + [1])
        }
    }

    func testBadActivationRangesAreRefused() throws {
        for bad: [Float] in [[0, .nan], [0, .infinity], [-1, 2], [3, 2], [0, -1], [0]] {
            try assertRefused(".act_range", "[0, clip] or [-clip, clip]") { dict, conv in
                replace(&dict, conv.name + ".act_range", floats: bad)
            }
        }
        try assertRefused(".act_range", "missing although __metadata__.abits is 8") { dict, conv in
            _ = dict.remove(conv.name + ".act_range")
        }
        try assertRefused(".act_range", "present although __metadata__.abits is 32", abits: 32) { dict, conv in
            replace(&dict, conv.name + ".act_range", floats: [0, 6])
        }
    }

    func testBadPointsAreRefused() throws {
        try assertRefused(".points", "every output channel needs 1 to 64 points") { dict, conv in
            var p = conv.pointCounts.map { Int32($0) }
            p[0] = 0
            dict.set(conv.name + ".points", StoredTensor(int32s: p, shape: [p.count]))
        }
        try assertRefused(".points", "entries for") { dict, conv in
            let p = conv.pointCounts.dropLast().map { Int32($0) }
            dict.set(conv.name + ".points", StoredTensor(int32s: p, shape: [p.count]))
        }
        try assertRefused(".scales", "rows (Σ points)") { dict, conv in
            var p = conv.pointCounts.map { Int32($0) }
            p[0] += 1
            dict.set(conv.name + ".points", StoredTensor(int32s: p, shape: [p.count]))
        }
    }

    func testBadShapesCodesAndMapsAreRefused() throws {
        try assertRefused(".shape", "4 positive sizes") { dict, conv in
            dict.set(conv.name + ".shape", StoredTensor(int64s: [Int64(conv.outputChannels), 0, 1, 1], shape: [4]))
        }
        try assertRefused(".codes", "packed uint8 bytes") { dict, conv in
            let packed = CodePacking.pack(conv.codes, bits: 4) + [0]
            dict.set(conv.name + ".codes", StoredTensor(uint8s: packed, shape: [packed.count]))
        }
        try assertRefused(".codes", "packed uint8 bytes") { dict, conv in
            dict.set(conv.name + ".codes", StoredTensor(int8s: conv.codes, shape: [conv.rows, conv.rowLength]))
        }
        try assertRefused(".input_map", "entries must be input channels") { dict, conv in
            let map = (0..<conv.weightShape[1]).map { Int32($0) } + [Int32(conv.weightShape[1])]
            dict.set(conv.name + ".input_map", StoredTensor(int32s: map, shape: [map.count]))
        }
        try assertRefused(".scales", "missing") { dict, conv in _ = dict.remove(conv.name + ".scales") }
    }

    func testBadMetadataIsRefused() throws {
        try assertRefused("__metadata__.surprise", "unknown metadata field") { dict, _ in dict.metadata["surprise"] = "1" }
        try assertRefused("__metadata__.wbits", "an integer in 2...8") { dict, _ in dict.metadata["wbits"] = "9" }
        try assertRefused("__metadata__.abits", "or 32") { dict, _ in dict.metadata["abits"] = "16" }
        try assertRefused("__metadata__.layer_bits", "one width in 2...8 per quantized layer") { dict, _ in
            dict.metadata["layer_bits"] = "4"
        }
        try assertRefused("__metadata__.class_names", "JSON array") { dict, _ in dict.metadata["class_names"] = "{" }
        try assertRefused("__metadata__.class_names", "3 names for a model with 2 classes") { dict, _ in
            dict.metadata["class_names"] = #"["a","b","c"]"#
        }
        try assertRefused("__metadata__.preprocessing", "is not one of") { dict, _ in
            dict.metadata["preprocessing"] = "imagenet"
        }
        try assertRefused(".codes", "belongs to no layer") { dict, conv in
            dict.metadata["quantized_layers"] = conv.name
            dict.metadata["layer_bits"] = "4"
        }
    }
}
