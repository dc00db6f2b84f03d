import CLibXML2
import Foundation
import SafeIO

extension AnnotationParser {
    /// Refuses a document whose elements nest deeper than `InputLimits.maxAnnotationDepth` (the root is depth 1).
    /// Walks the tree without recursion (first child, next sibling, parent).
    static func checkDepth(_ root: xmlNodePtr, file: String) throws {
        let limit = InputLimits.maxAnnotationDepth
        var node: xmlNodePtr? = root
        var depth = 1
        while let current = node {
            if current.pointee.type == XML_ELEMENT_NODE, depth > limit {
                let line = xmlGetLineNo(current)
                throw AnnotationError(file: file, line: line > 0 ? Int(line) : nil, kind: .tooLarge,
                                      problem: "elements nested more than \(limit) deep, the limit for an annotation "
                                          + "(VOC nests 5)")
            }
            if let child = current.pointee.children, current.pointee.type == XML_ELEMENT_NODE {
                node = child
                depth += 1
                continue
            }
            // Up until a node has a next sibling (or the root is reached).
            var up: xmlNodePtr? = current
            node = nil
            while let u = up, u != root {
                if let next = u.pointee.next {
                    node = next
                    break
                }
                up = u.pointee.parent
                depth -= 1
            }
        }
    }
}
