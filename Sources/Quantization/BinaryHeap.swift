/// A minimal binary heap: `pop()` returns the element that `precedes` every other one.
///
/// Written here because the package does not depend on swift-collections. `precedes` must be a strict
/// total order for deterministic pops (the allocator breaks priority ties by layer and channel index).
struct BinaryHeap<Element> {
    private var storage: [Element] = []
    private let precedes: (Element, Element) -> Bool

    init(precedes: @escaping (Element, Element) -> Bool) { self.precedes = precedes }

    var isEmpty: Bool { storage.isEmpty }
    var count: Int { storage.count }
    var top: Element? { storage.first }

    mutating func push(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(storage[child], storage[parent]) else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !storage.isEmpty else { return nil }
        storage.swapAt(0, storage.count - 1)
        let result = storage.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < storage.count && precedes(storage[left], storage[first]) { first = left }
            if right < storage.count && precedes(storage[right], storage[first]) { first = right }
            if first == parent { break }
            storage.swapAt(parent, first)
            parent = first
        }
        return result
    }
}
