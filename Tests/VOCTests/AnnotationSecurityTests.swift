import XCTest
@testable import VOC

/// XXE and entity-expansion attacks: nothing is read from disk, nothing expands, nothing hangs.
final class AnnotationSecurityTests: XCTestCase {
    private func refusal(_ data: Data, file: String) -> AnnotationError? {
        do {
            _ = try AnnotationParser.parse(data, file: file)
            return nil
        } catch {
            return error as? AnnotationError
        }
    }

    /// The external entity names a secret file made for this test: its content must appear nowhere.
    func testExternalEntityNeverReadsTheFile() throws {
        let folder = try Fixtures.temporaryFolder(self)
        let secret = folder.appendingPathComponent("secret.txt")
        let marker = "SECRET-\(UUID().uuidString)"
        try Data(marker.utf8).write(to: secret)
        let xml = """
        <?xml version="1.0"?>
        <!DOCTYPE annotation [ <!ENTITY xxe SYSTEM "\(secret.absoluteString)"> ]>
        <annotation><filename>&xxe;</filename><size><width>1</width><height>1</height></size>
        <object><name>&xxe;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>1</xmax><ymax>1</ymax></bndbox></object>
        </annotation>
        """
        let error = try XCTUnwrap(refusal(Data(xml.utf8), file: "xxe.xml"))
        XCTAssertEqual(error.kind, .entity)
        XCTAssertEqual(error.line, 2)
        XCTAssertFalse(error.description.contains(marker))
        XCTAssertTrue(error.problem.contains("<!ENTITY xxe"), error.problem)
    }

    func testCommittedXXEFixturesAreRefused() throws {
        for name in ["xxe-local-file.xml", "xxe-parameter-entity.xml"] {
            let url = try Fixtures.badXML(name)
            XCTAssertThrowsError(try AnnotationParser.parse(fileAt: url), name) { error in
                let error = error as? AnnotationError
                XCTAssertEqual(error?.kind, .entity, name)
                XCTAssertEqual(error?.line, 3, name)  // the <!ENTITY line
                XCTAssertFalse(error?.description.contains("root:") ?? true, "passwd content leaked")
            }
        }
    }

    /// 10^9 "lol"s if expanded; refused at the first declaration, in well under a second even in debug builds.
    func testBillionLaughsIsRefusedQuickly() throws {
        let url = try Fixtures.badXML("billion-laughs.xml")
        let start = Date()
        XCTAssertThrowsError(try AnnotationParser.parse(fileAt: url)) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .entity)
            XCTAssertEqual((error as? AnnotationError)?.line, 3)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "a generous bound: the refusal is immediate")
    }

    func testEntityReferencesWithoutDeclarationsAreErrors() throws {
        // No DTD: libxml2 itself rejects the undeclared entity as not well-formed.
        XCTAssertThrowsError(try AnnotationParser.parse(fileAt: Fixtures.badXML("undeclared-entity.xml"))) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .malformedXML)
            XCTAssertTrue((error as? AnnotationError)?.problem.contains("dog") ?? false)
        }
        // External DTD (never loaded): libxml2 would keep an entity-reference node; our SAX hook refuses it.
        let external = try Fixtures.badXML("external-dtd-reference.xml")
        XCTAssertThrowsError(try AnnotationParser.parse(fileAt: external)) { error in
            XCTAssertEqual((error as? AnnotationError)?.kind, .entity)
            XCTAssertEqual((error as? AnnotationError)?.line, 13)
        }
    }

    /// A DOCTYPE without entities is harmless and allowed.
    func testPlainDoctypeIsAccepted() throws {
        let xml = """
        <!DOCTYPE annotation [ <!ELEMENT annotation ANY> ]>
        <annotation><filename>a.jpg</filename><size><width>2</width><height>2</height></size></annotation>
        """
        XCTAssertEqual(try AnnotationParser.parse(Data(xml.utf8), file: "dtd.xml").width, 2)
    }
}
