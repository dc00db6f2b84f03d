import Foundation
import VOC

/// One of N disjoint slices of an image set, for running a split on several machines: shard `I/N` takes the
/// images at positions `I, I + N, I + 2N, ...` of the (possibly `--limit`ed) image set. `I` is 0-based
/// (`0 ..< N`) so it can be a Slurm `SLURM_ARRAY_TASK_ID` (array `0-(N-1)`) or a Kubernetes Indexed Job's
/// `JOB_COMPLETION_INDEX` as is. Every N-th image (rather than contiguous blocks) gives shards of equal size
/// and similar content.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// The whole set as a single shard.
    public static let all = Shard(uncheckedIndex: 0, count: 1)

    private init(uncheckedIndex index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `I/N`; nil unless `0 <= I < N`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            return nil
        }
        self.init(uncheckedIndex: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// Positions of this shard's images among the first `min(limit, total)` images of a set of `total`.
    public func positions(total: Int, limit: Int?) -> [Int] {
        let end = min(limit ?? total, total)
        return Array(stride(from: index, to: max(end, 0), by: count))
    }
}
