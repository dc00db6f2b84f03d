import Checkpoints
import Foundation
import SafeIO
import XCTest
@testable import SSD

/// The quantized-file rules of `QuantizedFileValidation.swift` that `QuantizedFileFormatTests` does not already
/// cover, and the bad files the fuzzer found. Each case starts from a good file written by `QuantizedFile`'s own
/// writer (two convs of the small parity network, 4-bit codes, 8-bit inputs), breaks one thing, and expects one line
/// naming the file, the key and the rule — never a crash, never a silent load.
final class QuantizedFileValidationTests: XCTestCase {



    /// Breaks the good file with `edit` (given the second conv), then expects `QuantizedFile.load` to refuse it with
    /// one line holding the file's path, `key` and `phrase`.
    private func assertRefused(_ key: String, _ phrase: String, conv index: Int = 1, line: UInt = #line,
                               _ edit: (inout StateDict, QuantizedConv) throws -> Void) throws {
        let q = QuantizedFileFixture.file(try QuantizedFileFixture.smallModel())
        var dict = q.stateDict()
        try edit(&dict, q.convs[index])
        let url = try writtenQuantizedFile(dict)
        XCTAssertThrowsError(try QuantizedFile.load(url), line: line) { error in
            let text = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            XCTAssertTrue(text.contains(url.path), "names the file: \(text)", line: line)
            XCTAssertTrue(text.contains(key), "names \(key): \(text)", line: line)
            XCTAssertTrue(text.contains(phrase), "says '\(phrase)': \(text)", line: line)
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", line: line)
        }
    }

    func testTheGoodFileLoads() throws {
        let model = try QuantizedFileFixture.smallModel()
        let q = QuantizedFileFixture.file(model)
        let loaded = try QuantizedFile.load(try writtenQuantizedFile(q.stateDict()))
        XCTAssertEqual(loaded.quantized?.convs, q.convs)
    }

    // MARK: shapes and sizes

    func testShapesOverTheDimensionLimitOrWhoseProductOverflowsAreRefused() throws {
        let big = Int64(InputLimits.maxQuantizedDimension)
        try assertRefused(".shape", "of at most \(InputLimits.maxQuantizedDimension)") { dict, conv in
            dict.set(conv.name + ".shape", StoredTensor(int64s: [Int64(conv.outputChannels), big + 1, 1, 1], shape: [4]))
        }
        // Each size within the limit, their product 2^80: an overflow before this rule existed.
        try assertRefused(".shape", "more than \(InputLimits.maxTensorElements) elements") { dict, conv in
            dict.set(conv.name + ".shape", StoredTensor(int64s: [Int64(conv.outputChannels), big, big, big], shape: [4]))
        }
        try assertRefused(".shape", "4 positive sizes") { dict, conv in
            dict.set(conv.name + ".shape", StoredTensor(int64s: [Int64(conv.outputChannels), 1, 1], shape: [3]))
        }
        try assertRefused(".shape", "4 positive sizes") { dict, conv in
            dict.set(conv.name + ".shape", StoredTensor(int64s: [Int64(conv.outputChannels), -1, 3, 3], shape: [4]))
        }
    }

    func testRowsTimesRowLengthOverTheElementLimitIsRefusedBeforeAnyAllocation() throws {
        // A weight of at most 2^32 elements (O · 2^20 · kh · 1) whose rows (1-3 points per channel) times row length
        // are well over it: refused from the sizes, before the codes are unpacked or any buffer is sized.
        try assertRefused(".codes", "exceed the limit of \(InputLimits.maxTensorElements) elements") { dict, conv in
            let o = conv.outputChannels, c = InputLimits.maxQuantizedDimension
            let kh = InputLimits.maxTensorElements / c / o
            XCTAssertLessThanOrEqual(o * c * kh, InputLimits.maxTensorElements)
            XCTAssertGreaterThan(conv.rows * c * kh, InputLimits.maxTensorElements)
            dict.set(conv.name + ".shape", StoredTensor(int64s: [Int64(o), Int64(c), Int64(kh), 1], shape: [4]))
        }
    }

    func testPointsOverTheLimitAreRefused() throws {
        try assertRefused(".points", "1 to \(InputLimits.maxQuantizedPoints) points") { dict, conv in
            var p = conv.pointCounts.map { UInt8($0) }
            p[0] = UInt8(InputLimits.maxQuantizedPoints + 1)
            dict.set(conv.name + ".points", StoredTensor(uint8s: p, shape: [p.count]))
        }
    }

    func testPartsOfTheWrongRankOrMissingAreRefused() throws {
        try assertRefused(".scales", "must be one-dimensional") { dict, conv in
            dict.set(conv.name + ".scales", StoredTensor(floats: conv.scales, shape: [1, conv.rows]))
        }
        for suffix in [".codes", ".points", ".shape", ".bias", ".act_range"] {
            try assertRefused(suffix, "missing") { dict, conv in _ = dict.remove(conv.name + suffix) }
        }
    }

    func testPackedCodesWithNonzeroPaddingOrWrongRankAreRefused() throws {
        try assertRefused(".codes", "padding bits zero") { dict, conv in
            var packed = CodePacking.pack(conv.codes, bits: 4)
            // An odd number of 4-bit codes leaves the last byte's high nibble unused: set it. Otherwise add a code's
            // worth of bytes (a wrong length, the same rule).
            if conv.codes.count % 2 == 1 { packed[packed.count - 1] |= 0xF0 } else { packed.append(0) }
            dict.set(conv.name + ".codes", StoredTensor(uint8s: packed, shape: [packed.count]))
        }
        try assertRefused(".codes", "packed uint8 bytes") { dict, conv in
            let packed = CodePacking.pack(conv.codes, bits: 4)
            dict.set(conv.name + ".codes", StoredTensor(uint8s: packed, shape: [1, packed.count]))
        }
    }

    func testVersion1CodesOfTheWrongShapeAreRefused() throws {
        try assertRefused(".codes", "expected int8 [") { dict, conv in
            dict.metadata["format"] = QuantizedFile.legacyFormat
            dict.set(conv.name + ".codes", StoredTensor(int8s: conv.codes, shape: [conv.rowLength, conv.rows]))
        }
    }

    // MARK: input maps

    func testInputMapsMustStartWithEveryInputChannel() throws {
        // The first conv (3 input channels; the second is depthwise, one input channel per group).
        try assertRefused(".input_map", "must start with every input channel in order", conv: 0) { dict, conv in
            // Channels in another order (a permutation, not a split): the entries are all valid channels.
            let c = conv.weightShape[1]
            let map = ((0..<c).reversed().map { Int32($0) })
            dict.set(conv.name + ".input_map", StoredTensor(int32s: map, shape: [map.count]))
        }
        try assertRefused(".input_map", "must start with every input channel in order", conv: 0) { dict, conv in
            // Fewer entries than input channels: the float weight would be larger than the codes.
            dict.set(conv.name + ".input_map", StoredTensor(int32s: [0], shape: [1]))
        }
    }

    // MARK: layers and metadata

    func testALayerListedTwiceOrAlsoStoredAsFloatIsRefused() throws {
        try assertRefused("__metadata__.quantized_layers", "lists a layer twice") { dict, conv in
            dict.metadata["quantized_layers"] = conv.name + "," + conv.name
            dict.metadata["layer_bits"] = "4,4"
        }
        try assertRefused(".weight", "must not also store a float weight") { dict, conv in
            dict.set(conv.name + ".weight", StoredTensor(floats: [Float](repeating: 0, count: conv.weightShape.reduce(1, *)),
                                                         shape: conv.weightShape))
        }
    }

    func testFormatAndWidthsMustBeKnown() throws {
        try assertRefused("__metadata__.format", "expected mpq-quantized-v2 or mpq-quantized-v1") { dict, _ in
            dict.metadata["format"] = "mpq-quantized-v3"
        }
        try assertRefused("__metadata__.wbits", "missing") { dict, _ in _ = dict.metadata.removeValue(forKey: "wbits") }
        try assertRefused("__metadata__.abits", "'x'") { dict, _ in dict.metadata["abits"] = "x" }
        try assertRefused("__metadata__.layer_bits", "one width in 2...8") { dict, _ in
            let layers = dict.metadata["quantized_layers"] ?? ""
            dict.metadata["layer_bits"] = layers.split(separator: ",").map { _ in "1" }.joined(separator: ",")
        }
    }

    func testAQuantizedShapeThatDoesNotFitTheNetworkIsRefused() throws {
        // Consistent with itself (points, scales, codes, bias all for 2·O channels) but not with the network.
        let model = try QuantizedFileFixture.smallModel()
        let q = QuantizedFileFixture.file(model)
        let conv = q.convs[1]
        let doubled = QuantizedConv(name: conv.name, bits: 4, weightShape: [2 * conv.outputChannels] + conv.weightShape.dropFirst(),
                                    pointCounts: conv.pointCounts + conv.pointCounts, scales: conv.scales + conv.scales,
                                    codes: conv.codes + conv.codes, bias: conv.bias + conv.bias, inputChannelMap: nil,
                                    activation: conv.activation)
        let url = try writtenQuantizedFile(QuantizedFile(info: q.info, convs: [q.convs[0], doubled], floats: q.floats).stateDict())
        XCTAssertThrowsError(try QuantizedFile.load(url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(url.path) && text.contains(conv.name), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
    }
}
