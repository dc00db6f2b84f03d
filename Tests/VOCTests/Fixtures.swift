import Foundation
import XCTest

/// Paths into this target's committed fixtures.
enum Fixtures {
    static func root() throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures folder missing")
    }

    static func voc2007() throws -> URL { try root().appendingPathComponent("voc-samples/VOCdevkit/VOC2007") }
    static func voc2012() throws -> URL { try root().appendingPathComponent("voc-samples/VOCdevkit/VOC2012") }
    static func badXML(_ name: String) throws -> URL { try root().appendingPathComponent("bad-xml/\(name)") }

    /// A fresh temporary folder, removed when the test ends.
    static func temporaryFolder(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mpq-voc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
