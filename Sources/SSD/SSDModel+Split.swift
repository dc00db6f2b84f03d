import Tensors

extension SSDModel {
    /// Replaces a conv by its outlier-channel-split form: a conv over `inputChannelMap.count` input channels
    /// whose input channel `t` is the original input channel `inputChannelMap[t]` (copies of split channels
    /// appended). With the split weights (each split column halved in both copies) it computes the original
    /// function; it is the form a quantized OCS layer executes in.
    /// - Parameters:
    ///   - weight: `[O, inputChannelMap.count, kh, kw]`; kernel, stride, padding and activation are kept.
    ///   - inputChannelMap: every entry an input channel of the original conv.
    /// - Throws: `SSDModelError.unknownConvolution`, or `.wrongShape` for a grouped conv, a bad map or a weight
    ///   that does not fit.
    public mutating func splitInputChannels(named name: String, weight: Tensor, bias: [Float],
                                            inputChannelMap: [Int]) throws {
        var found = false
        var failure: SSDModelError?
        network.visitConvolutions { unit in
            guard unit.name == name else { return }
            found = true
            let conv = unit.conv
            let expected = [conv.outChannels, inputChannelMap.count, conv.kernelH, conv.kernelW]
            guard conv.groups == 1, unit.inputChannelMap == nil, weight.shape == expected,
                  bias.count == conv.outChannels, inputChannelMap.allSatisfy({ (0..<conv.inChannels).contains($0) })
            else {
                failure = .wrongShape(file: "model", key: name + ".weight",
                                      expected: "\(expected) for an ungrouped, unsplit conv with a map into "
                                        + "0..<\(conv.inChannels)", actual: weight.shape)
                return
            }
            unit.conv = Conv2D(weight: weight, bias: bias, stride: conv.stride, padding: conv.padding,
                               dilation: conv.dilation, groups: 1, activation: conv.activation)
            unit.inputChannelMap = inputChannelMap
        }
        revision = ModelRevision.next()
        if let failure { throw failure }
        if !found { throw SSDModelError.unknownConvolution(name: name) }
    }
}

extension Tensor {
    /// `[N, map.count, H, W]` whose channel `t` is channel `map[t]` of this `[N, C, H, W]` tensor.
    func gatheringChannels(_ map: [Int]) -> Tensor {
        precondition(rank == 4, "channel gather needs [N, C, H, W], got \(shape)")
        let n = shape[0], c = shape[1], plane = shape[2] * shape[3]
        var out = [Float](repeating: 0, count: n * map.count * plane)
        for b in 0..<n {
            for (t, source) in map.enumerated() {
                let from = (b * c + source) * plane, to = (b * map.count + t) * plane
                out[to..<(to + plane)] = data[from..<(from + plane)]
            }
        }
        return Tensor(shape: [n, map.count, shape[2], shape[3]], data: out)
    }
}
