import Tensors

extension SSDModel {
    /// Output positions `H_out · W_out` of every convolution on a `size` x `size` input (one float forward pass
    /// of zeros with a hook that reads each conv's input shape). A conv's multiply-adds per image are
    /// `positions · outChannels · patchLength`.
    public func convOutputPositions(size: Int = SSDModel.inputSize) -> [String: Int] {
        let convs = Dictionary(convolutions.map { ($0.name, $0.conv) }, uniquingKeysWith: { a, _ in a })
        final class Box: @unchecked Sendable { var positions: [String: Int] = [:] }
        let box = Box()
        var workspace = SSDWorkspace(engine: .native)
        _ = forward(Tensor(zeros: [1, 3, size, size]), workspace: &workspace) { name, x in
            if let conv = convs[name] {
                let out = conv.outputShape(for: x.shape)
                box.positions[name] = out[2] * out[3]
            }
            return x
        }
        return box.positions
    }
}
