// Hand-computed checks of the small element-wise and layout helpers.
import XCTest
@testable import Tensors

final class ElementwiseTests: XCTestCase {
    func testAddConcatPermute() {
        let a = Tensor(shape: [1, 2, 1, 2], data: [1, 2, 3, 4])
        let b = Tensor(shape: [1, 1, 1, 2], data: [5, 6])
        XCTAssertEqual(add(a, a).data, [2, 4, 6, 8])
        XCTAssertEqual(concatChannels([a, b]), Tensor(shape: [1, 3, 1, 2], data: [1, 2, 3, 4, 5, 6]))
        // [C=2, H=1, W=2] -> [H, W, C]: location (0,0) holds (1, 3), location (0,1) holds (2, 4).
        XCTAssertEqual(nchwToNHWC(a), Tensor(shape: [1, 1, 2, 2], data: [1, 3, 2, 4]))
        XCTAssertEqual(concatFlattened([a, b]), Tensor(shape: [1, 6], data: [1, 2, 3, 4, 5, 6]))
    }

    func testActivations() {
        let x = Tensor(shape: [5], data: [-1, 0, 3, 6, 7.5])
        XCTAssertEqual(relu(x).data, [0, 0, 3, 6, 7.5])
        XCTAssertEqual(relu6(x).data, [0, 0, 3, 6, 6])
    }

    func testSoftmaxHandComputed() {
        // softmax(0, ln 3) = (1/4, 3/4).
        var d: [Float] = [0, logf(3)]
        softmax(rows: 1, cols: 2, &d)
        XCTAssertEqual(d[0], 0.25, accuracy: 1e-7)
        XCTAssertEqual(d[1], 0.75, accuracy: 1e-7)
    }

    func testBatchNormFoldHandComputed() {
        // gamma 2, var 3 (eps 1): s = 2 / sqrt(4) = 1; w' = w; b' = (1 - 0.5) * 1 + 0.25 = 0.75.
        let (w, b) = foldBatchNorm(weight: Tensor(shape: [1, 1, 1, 2], data: [3, -2]), bias: [1], gamma: [2],
                                   beta: [0.25], mean: [0.5], variance: [3], eps: 1)
        XCTAssertEqual(w.data, [3, -2])
        XCTAssertEqual(b, [0.75])
    }
}
