// Outputs must be bit-identical whatever the thread count.
import XCTest
@testable import Tensors

final class DeterminismTests: XCTestCase {
    override func tearDown() { Runtime.setThreads(2) }

    private func runAll(threads: Int, inputs: [Tensor], layers: [Conv2D], gramConv: Conv2D) -> ([Tensor], [[Double]]) {
        Runtime.setThreads(threads)
        var outs = zip(layers, inputs).map { $0.0($0.1) }
        outs.append(MaxPool2D(kernel: 3, stride: 1, padding: 1)(inputs[0]))
        outs.append(l2Norm(inputs[0], weight: [Float](repeating: 2, count: inputs[0].shape[1])))
        var c = [Float](repeating: 0, count: 64 * 300)
        var rng = SeededGenerator(seed: 3)
        let a = randomTensor([64, 200], &rng), b = randomTensor([200, 300], &rng)
        sgemm(m: 64, n: 300, k: 200, a: a.data, b: b.data, c: &c)
        outs.append(Tensor(shape: [64, 300], data: c))
        var gram: [[Double]] = []
        gramConv.accumulateInputGram(inputs[0], into: &gram)
        return (outs, gram)
    }

    func testOutputsBitIdenticalForOneTwoAndThreeThreads() {
        var rng = SeededGenerator(seed: 2024)
        let x = randomTensor([1, 32, 38, 38], &rng)
        let layers = [
            Conv2D(weight: randomTensor([48, 32, 3, 3], &rng), bias: nil, padding: 1, activation: .relu),
            Conv2D(weight: randomTensor([64, 32, 1, 1], &rng), bias: nil),
            Conv2D(weight: randomTensor([32, 1, 3, 3], &rng), bias: nil, stride: 2, padding: 1, groups: 32),
            Conv2D(weight: randomTensor([40, 32, 3, 3], &rng), bias: nil, padding: 6, dilation: 6),
            Conv2D(weight: randomTensor([16, 16, 3, 3], &rng), bias: nil, stride: 2, padding: 1, groups: 2),
        ]
        let gramConv = Conv2D(weight: randomTensor([8, 32, 3, 3], &rng), bias: nil, padding: 1)
        let inputs = Array(repeating: x, count: layers.count)
        let (one, gramOne) = runAll(threads: 1, inputs: inputs, layers: layers, gramConv: gramConv)
        for t in [2, 3] {
            let (other, gramOther) = runAll(threads: t, inputs: inputs, layers: layers, gramConv: gramConv)
            for (i, (a, b)) in zip(one, other).enumerated() {
                XCTAssertEqual(a.data.map(\.bitPattern), b.data.map(\.bitPattern), "output \(i) with \(t) threads")
            }
            XCTAssertEqual(gramOne, gramOther, "gram with \(t) threads")
        }
    }
}
