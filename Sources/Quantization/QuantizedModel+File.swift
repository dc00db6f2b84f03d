import Checkpoints
import Foundation
import SSD
import Tensors

extension QuantizedLayer {
    /// The layer as the file and the integer engine hold it.
    public var quantizedConv: QuantizedConv {
        QuantizedConv(name: name, bits: weights.grid.bits, weightShape: weightShape, pointCounts: weights.pointCounts,
                      scales: weights.scales, codes: weights.codes, bias: bias, inputChannelMap: inputChannelMap,
                      activation: activation.map { .init(bits: $0.bits, clip: $0.clip, unsigned: $0.isUnsigned) })
    }
}

extension QuantizedModel {
    /// The quantized convs in execution order (`QuantizedConv`: codes, scales, points, bias, input grid).
    public var quantizedConvs: [QuantizedConv] { layers.map(\.quantizedConv) }

    /// The model as a quantized model file (`QuantizedFile`, format v2: codes packed at each layer's width).
    /// - Parameters:
    ///   - classNames: the class names without background, kept so `detect` on the file prints names.
    public func file(method: String, wbits: Int, abits: Int, sourceSHA256: String, version: String,
                     classNames: [String]? = nil) -> QuantizedFile {
        let quantized = Set(layers.map(\.name))
        var floats = StateDict()
        let folded = model.foldedStateDict()
        for key in folded.keys {
            // A quantized conv's float weight is replaced by its codes (its bias is written with them).
            let layer = key.hasSuffix(".weight") ? String(key.dropLast(7)) : key.hasSuffix(".bias")
                ? String(key.dropLast(5)) : ""
            if quantized.contains(layer) { continue }
            if let t = folded[key] { floats.set(key, t) }
        }
        let info = QuantizedFile.Info(method: method, wbits: wbits, abits: abits, architecture: model.architecture.rawValue,
                                      sourceSHA256: sourceSHA256, toolkitVersion: version, classNames: classNames,
                                      preprocessing: model.architecture.preprocessing.rawValue)
        return QuantizedFile(info: info, convs: quantizedConvs, floats: floats)
    }
}

extension QuantizedModel {
    /// `inputQuantization` for `engine` (see `QuantizedEngine.execution`).
    public func execution(_ engine: QuantizedEngine) -> (quantization: InputQuantization?, notice: String?) {
        engine.execution(inputQuantization, convs: quantizedConvs)
    }
}
