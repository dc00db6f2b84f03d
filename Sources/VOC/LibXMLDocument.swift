import CLibXML2
import Foundation

/// libxml2's global state is set up once per process (`xmlInitParser` is not safe to race on first use);
/// a Swift global `let` is initialised exactly once, thread-safely.
private let libxml2Initialized: Bool = {
    xmlInitParser()
    return true
}()

/// What the C callbacks of one parse saw: why one of our SAX hooks stopped the parser (an entity declaration
/// or reference), and libxml2's first error (more telling than its last one, which is often "premature end of
/// data" after a mismatched tag). Owned by the parse call and reached through the context's `_private`
/// pointer; one parse runs on one thread, so no lock is needed.
private final class ParseState {
    var refusalLine: Int?
    var refusal: String?
    var firstErrorLine: Int?
    var firstErrorMessage: String?
}

/// A parsed XML document, freed when this value goes away. Only `VOC` uses it, one thread per instance.
///
/// Security model (VOC files come from the internet, in datasets of thousands of files):
/// - parsed from memory (`xmlCreateMemoryParserCtxt`), never from a URL; `XML_PARSE_NONET`;
/// - never `XML_PARSE_NOENT`, `DTDLOAD`, `DTDATTR`, `DTDVALID`, `XINCLUDE` or `HUGE`;
/// - any entity declaration (`<!ENTITY ...>`, general or parameter, internal or external) stops the parser
///   from its SAX hook before the entity exists, and so does any reference to a non-predefined entity: an XXE
///   file never opens the file it names and "billion laughs" expands nothing (it stops at its first line of
///   DTD). `&amp;`, `&lt;`... and character references are ordinary text and stay allowed;
/// - errors are read from this parse's own context (`xmlCtxtGetLastError`), with a per-context no-op
///   structured handler so libxml2 never prints to stderr and no global error handler is installed.
final class LibXMLDocument {
    let doc: xmlDocPtr

    /// Parses `data`; `file` names it in errors.
    /// - Throws: `AnnotationError` of kind `.malformedXML` (with libxml2's line and message) or `.entity`.
    init(_ data: Data, file: String) throws {
        _ = libxml2Initialized
        let ctxtOrNil: xmlParserCtxtPtr? = data.withUnsafeBytes { raw in
            raw.baseAddress.flatMap { base in
                xmlCreateMemoryParserCtxt(base.assumingMemoryBound(to: CChar.self), Int32(raw.count))
            }
        }
        guard let ctxt = ctxtOrNil else {
            throw AnnotationError(file: file, kind: .malformedXML, problem: "libxml2 could not create a parser")
        }
        defer { xmlFreeParserCtxt(ctxt) }

        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_NOCDATA.rawValue | XML_PARSE_BIG_LINES.rawValue)
        _ = xmlCtxtUseOptions(ctxt, options)
        let state = ParseState()
        ctxt.pointee._private = Unmanaged.passUnretained(state).toOpaque()
        if let sax = ctxt.pointee.sax {
            sax.pointee.entityDecl = { ctx, name, _, _, _, _ in
                LibXMLDocument.refuse(ctx, "an entity declaration (<!ENTITY \(LibXMLDocument.string(name)) ...>)")
            }
            sax.pointee.unparsedEntityDecl = { ctx, name, _, _, _ in
                LibXMLDocument.refuse(ctx, "an entity declaration (<!ENTITY \(LibXMLDocument.string(name)) ...>)")
            }
            sax.pointee.reference = { ctx, name in
                LibXMLDocument.refuse(ctx, "an entity reference (&\(LibXMLDocument.string(name));)")
            }
            // Per-context structured handler (never a global one): keeps the first error, prints nothing.
            sax.pointee.serror = { ctx, error in LibXMLDocument.record(ctx, error) }
        }

        let generic = mpq_xml_silence_generic_errors()
        _ = xmlParseDocument(ctxt)
        mpq_xml_restore_generic_errors(generic)
        let parsed = ctxt.pointee.myDoc
        ctxt.pointee.myDoc = nil
        ctxt.pointee._private = nil
        withExtendedLifetime(state) {}

        if let what = state.refusal {
            if let parsed { xmlFreeDoc(parsed) }
            throw AnnotationError(file: file, line: state.refusalLine, kind: .entity,
                                  problem: "refused: the file contains \(what); VOC annotations never need entities "
                                      + "and they are not expanded for safety (XXE, billion laughs)")
        }
        guard ctxt.pointee.wellFormed != 0, let parsed else {
            if let parsed { xmlFreeDoc(parsed) }
            var line = state.firstErrorLine
            var message = state.firstErrorMessage ?? "not well-formed XML"
            if state.firstErrorMessage == nil, let err = xmlCtxtGetLastError(UnsafeMutableRawPointer(ctxt)) {
                if err.pointee.line > 0 { line = Int(err.pointee.line) }
                if let text = err.pointee.message {
                    message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            throw AnnotationError(file: file, line: line, kind: .malformedXML, problem: "malformed XML: \(message)")
        }
        doc = parsed
    }

    deinit { xmlFreeDoc(doc) }

    /// The root element, if the document has one.
    var root: xmlNodePtr? { xmlDocGetRootElement(doc) }

    // MARK: - C callbacks

    /// Stops the parser from a SAX hook and remembers what and where, for the error message.
    private static func refuse(_ ctx: UnsafeMutableRawPointer?, _ what: String) {
        guard let ctx else { return }
        let ctxt = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
        if let box = ctxt.pointee._private {
            let state = Unmanaged<ParseState>.fromOpaque(box).takeUnretainedValue()
            if state.refusal == nil {
                state.refusal = what
                if let input = ctxt.pointee.input, input.pointee.line > 0 {
                    state.refusalLine = Int(input.pointee.line)
                }
            }
        }
        xmlStopParser(ctxt)
    }

    /// Keeps the first error (not warning) libxml2 reports for this parse. `ctx` is the parser context,
    /// libxml2 passes its `userData`, which is the context itself for memory parser contexts.
    private static func record(_ ctx: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
        guard let ctx, let error, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        let ctxt = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
        guard let box = ctxt.pointee._private else { return }
        let state = Unmanaged<ParseState>.fromOpaque(box).takeUnretainedValue()
        guard state.firstErrorMessage == nil else { return }
        if error.pointee.line > 0 { state.firstErrorLine = Int(error.pointee.line) }
        let message = error.pointee.message.map { String(cString: $0) } ?? "not well-formed XML"
        state.firstErrorMessage = message.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func string(_ name: UnsafePointer<xmlChar>?) -> String {
        guard let name else { return "?" }
        return String(cString: name)
    }
}

/// Small read-only helpers over libxml2 element nodes.
enum LibXMLNode {
    /// The element's tag name.
    static func name(_ node: xmlNodePtr) -> String {
        guard let name = node.pointee.name else { return "" }
        return String(cString: name)
    }

    /// Element children (text, comments and processing instructions skipped), in document order.
    static func elements(_ node: xmlNodePtr) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { result.append(current) }
            child = current.pointee.next
        }
        return result
    }

    /// The element children called `name`.
    static func elements(_ node: xmlNodePtr, named name: String) -> [xmlNodePtr] {
        elements(node).filter { has($0, name: name) }
    }

    /// Whether the element is called `name`, compared on the C strings (no Swift string per node).
    static func has(_ node: xmlNodePtr, name: String) -> Bool {
        guard let own = node.pointee.name else { return false }
        return name.withCString { strcmp(UnsafeRawPointer(own).assumingMemoryBound(to: CChar.self), $0) == 0 }
    }

    /// The first element child called `name`.
    static func first(_ node: xmlNodePtr, named name: String) -> xmlNodePtr? {
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE, has(current, name: name) { return current }
            child = current.pointee.next
        }
        return nil
    }

    /// The element's text content, surrounding XML white space (space, tab, CR, LF) removed. Trimmed on the
    /// UTF-8 bytes: Foundation's `trimmingCharacters` goes through UTF-16 and dominated parse time.
    static func text(_ node: xmlNodePtr) -> String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { mpq_xmlFree(content) }
        let bytes = UnsafeBufferPointer(start: content, count: strlen(UnsafeRawPointer(content)
            .assumingMemoryBound(to: CChar.self)))
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
              let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }

    /// The element's 1-based line, or nil when libxml2 does not know it.
    static func line(_ node: xmlNodePtr) -> Int? {
        let line = xmlGetLineNo(node)
        return line > 0 ? Int(line) : nil
    }
}
