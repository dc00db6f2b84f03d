import Foundation
import SafeIO

/// Materialises a strided view `(offset, size, stride)` of a storage into contiguous row-major bytes —
/// what `_rebuild_tensor_v2` describes. Views may be transposed, sliced or share a storage with others.
enum TensorView {
    /// Copies the elements of `view` out of `storage` (the bytes of `view.storage`'s whole storage).
    /// - Parameter storage: `numel * byteSize` raw bytes of the storage the view refers to.
    /// - Throws: `CheckpointError.malformedTensor` when the view is inconsistent or reaches outside the storage.
    static func materialize(_ view: TensorRef, storage: Data, file: String, key: String) throws -> StoredTensor {
        let dtype = view.storage.dtype
        let width = dtype.byteSize
        func bad(_ problem: String) -> CheckpointError { .malformedTensor(file: file, key: key, problem: problem) }

        guard view.shape.count == view.stride.count else {
            throw bad("size \(view.shape) and stride \(view.stride) have different ranks")
        }
        guard view.shape.count <= 32 else { throw bad("\(view.shape.count) dimensions") }
        guard view.offset >= 0, view.shape.allSatisfy({ $0 >= 0 }), view.stride.allSatisfy({ $0 >= 0 }) else {
            throw bad("negative offset, size or stride (offset \(view.offset), size \(view.shape), stride \(view.stride))")
        }
        if let problem = InputLimits.tensorElementsProblem(view.shape) { throw bad(problem) }
        guard let byteCount = StoredTensor.byteCount(shape: view.shape, dtype: dtype) else {
            throw bad("size \(view.shape) overflows")
        }
        let count = byteCount / width
        if count == 0 { return StoredTensor(validated: dtype, shape: view.shape, data: Data()) }

        // Highest element index touched: offset + sum((size_i - 1) * stride_i), overflow-checked.
        let start = view.storage.elementOffset + view.offset
        var last = start
        for (size, stride) in zip(view.shape, view.stride) {
            let (span, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(span)
            guard !o1, !o2 else { throw bad("stride \(view.stride) overflows") }
            last = sum
        }
        let available = view.storage.elementOffset + view.storage.count
        guard last < available, available <= view.storage.numel else {
            throw bad("view (offset \(view.offset), size \(view.shape), stride \(view.stride)) reaches element "
                      + "\(last - view.storage.elementOffset) of a storage of \(view.storage.count) elements")
        }
        guard storage.count >= available * width else {
            throw bad("storage '\(view.storage.key)' holds \(storage.count / width) elements, \(available) needed")
        }

        if isContiguous(shape: view.shape, stride: view.stride) {
            let from = storage.startIndex + start * width
            return StoredTensor(validated: dtype, shape: view.shape, data: Data(storage[from..<(from + byteCount)]))
        }
        var out = Data(count: byteCount)
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                gather(src: src, dst: dst, start: start, shape: view.shape, stride: view.stride, width: width)
            }
        }
        return StoredTensor(validated: dtype, shape: view.shape, data: out)
    }

    /// Row-major contiguity, ignoring the stride of size-1 axes (PyTorch allows any stride there).
    static func isContiguous(shape: [Int], stride: [Int]) -> Bool {
        var expected = 1
        for axis in shape.indices.reversed() where shape[axis] != 1 {
            guard stride[axis] == expected else { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Copies elements in row-major order of `shape`, walking a multi-index odometer; the innermost axis is a
    /// tight loop of fixed-width copies. Bounds were checked by the caller.
    private static func gather(src: UnsafeRawBufferPointer, dst: UnsafeMutableRawBufferPointer,
                               start: Int, shape: [Int], stride: [Int], width: Int) {
        guard let srcBase = src.baseAddress, let dstBase = dst.baseAddress else { return }
        let rank = shape.count
        if rank == 0 {
            memcpy(dstBase, srcBase + start * width, width)
            return
        }
        let inner = shape[rank - 1], innerStride = stride[rank - 1] * width
        var index = [Int](repeating: 0, count: rank)
        var source = start
        var written = 0
        let total = dst.count
        while written < total {
            var s = srcBase + source * width
            for _ in 0..<inner {
                memcpy(dstBase + written, s, width)
                written += width
                s += innerStride
            }
            // Advance the odometer over the outer axes.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                source += stride[axis]
                if index[axis] < shape[axis] { break }
                source -= stride[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }
}
