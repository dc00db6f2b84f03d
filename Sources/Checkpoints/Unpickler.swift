import Foundation
import SafeIO

/// A restricted pickle interpreter for checkpoint files (protocols 0-4 data opcodes).
///
/// It builds only `PickleValue`s: data, containers, and the effect of a few allow-listed PyTorch globals
/// (`AllowedGlobal`). Any other global is refused when it is *named* (`GLOBAL`/`STACK_GLOBAL`), before anything
/// could use it, and object-constructing opcodes (`INST`, `OBJ`, `NEWOBJ`, `EXT*`) are refused outright.
///
/// Hostile input is bounded: every read is length-checked against the buffer, opcode count, stack, mark and
/// memo sizes are capped, and every container is kept in an arena whose links are cut in `releaseGraph()`,
/// so neither a deep nesting nor a reference cycle can overflow the stack when the graph is freed.
final class Unpickler {
    /// Caps that no real state dict comes near (`InputLimits` gives each one's reason).
    static let maxOpcodes = InputLimits.maxPickleOpcodes
    static let maxMarks = InputLimits.maxPickleMarks
    static let maxWideIntBytes = InputLimits.maxPickleIntegerBytes
    static let maxStack = InputLimits.maxPickleStack
    static let maxMemo = InputLimits.maxPickleMemo

    let file: String
    /// Maps a persistent id (the tuple in `BINPERSID`) and its opcode's file offset to a value; supplied by
    /// the container reader.
    typealias PersistentLoad = (_ pid: PickleValue, _ offset: Int) throws -> PickleValue
    private let persistentLoad: PersistentLoad

    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var sequences: [PickleSequence] = []
    private var dicts: [PickleDict] = []
    private var opcodeCount = 0
    private var opcodeOffset = 0

    init(file: String, persistentLoad: @escaping PersistentLoad) {
        self.file = file
        self.persistentLoad = persistentLoad
    }

    deinit { releaseGraph() }

    /// Cuts every container link (breaking cycles, avoiding recursive frees). Values obtained from `load`
    /// must not be used afterwards: their containers are empty.
    func releaseGraph() {
        for s in sequences { s.items.removeAll() }
        for d in dicts { d.removeAll() }
        sequences.removeAll()
        dicts.removeAll()
        stack.removeAll()
        memo.removeAll()
        marks.removeAll()
    }

    private func fail(_ problem: String) -> CheckpointError {
        .malformedPickle(file: file, offset: opcodeOffset, problem: problem)
    }

    // MARK: Stack helpers

    private func push(_ value: PickleValue) { stack.append(value) }

    /// Every opcode that pushes is followed by this check (`step`), so the stack never outgrows the cap by more
    /// than one value.
    private func checkStack() throws {
        guard stack.count <= Self.maxStack else { throw fail("more than \(Self.maxStack) values on the stack") }
    }

    private func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.popLast() else { throw fail("stack underflow") }
        return value
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.last else { throw fail("stack underflow") }
        return value
    }

    /// Pops everything above the last MARK, and the mark.
    private func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no MARK on the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func newSequence(_ items: [PickleValue]) -> PickleSequence {
        let s = PickleSequence(items)
        sequences.append(s)
        return s
    }

    private func newDict() -> PickleDict {
        let d = PickleDict()
        dicts.append(d)
        return d
    }

    private func memoGet(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("memo key \(index) read before it was written") }
        return value
    }

    private func memoPut(_ index: Int) throws {
        guard index >= 0 else { throw fail("negative memo key") }
        guard memo.count < Self.maxMemo || memo[index] != nil else {
            throw fail("more than \(Self.maxMemo) memo entries")
        }
        memo[index] = try top()
    }

    private func setItems(_ flat: [PickleValue], into target: PickleValue) throws {
        guard case let .dict(dict) = target else { throw fail("SETITEM(S) on a \(target.typeName)") }
        guard flat.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        for i in stride(from: 0, to: flat.count, by: 2) { dict.set(flat[i], flat[i + 1]) }
    }

    private func appendItems(_ items: [PickleValue], to target: PickleValue) throws {
        guard case let .list(list) = target else { throw fail("APPEND(S)/ADDITEMS on a \(target.typeName)") }
        list.items.append(contentsOf: items)
    }

    private func resolveGlobal(module: String, name: String) throws -> PickleValue {
        if let allowed = AllowedGlobal(module: module, name: name) { return .global(allowed) }
        if module == "torch" || module == "torch.cuda", name.hasSuffix("Storage") {
            throw fail("storage type \(module).\(name) is not supported (supported: float32, float16, "
                       + "bfloat16, float64, int64, int32, int8, uint8, bool)")
        }
        throw CheckpointError.forbiddenGlobal(file: file, offset: opcodeOffset, global: "\(module).\(name)")
    }

    private func text(_ bytes: UnsafeRawBufferPointer, _ what: String) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("\(what) is not valid UTF-8") }
        return s
    }

    /// Two's-complement little-endian integer (LONG1/LONG4); `.bigInt` when it does not fit `Int`.
    private func wideInt(_ bytes: UnsafeRawBufferPointer) -> PickleValue {
        guard !bytes.isEmpty else { return .int(0) }
        if bytes.count <= 8 {
            var value: UInt64 = 0
            for (i, b) in bytes.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
            let shift = UInt64(64 - 8 * bytes.count)
            return .int(Int(Int64(bitPattern: value << shift) >> Int64(shift)))  // sign-extend
        }
        return .bigInt(Array(bytes))
    }

    // MARK: The interpreter loop

    /// Interprets one pickle starting at `reader.position`, leaving the reader just after its STOP.
    func load(_ reader: inout ByteReader) throws -> PickleValue {
        while true {
            opcodeOffset = reader.fileOffset
            let byte = try reader.uint8("a pickle opcode")
            opcodeCount += 1
            guard opcodeCount <= Self.maxOpcodes else { throw fail("more than \(Self.maxOpcodes) opcodes") }
            guard let op = PickleOpcode(rawValue: byte) else {
                throw fail("unknown opcode 0x\(String(byte, radix: 16))")
            }
            if op == .stop {
                guard let result = stack.popLast() else { throw fail("STOP with an empty stack") }
                return result
            }
            try step(op, &reader)
            try checkStack()
        }
    }

    private func step(_ op: PickleOpcode, _ r: inout ByteReader) throws {
        switch op {
        case .proto:
            let version = try r.uint8("protocol version")
            guard version <= 5 else { throw fail("unsupported pickle protocol \(version)") }
        case .frame: _ = try r.unsignedLE(8, "frame length")  // framing is only a read-ahead hint
        case .mark:
            guard marks.count < Self.maxMarks else { throw fail("more than \(Self.maxMarks) nested MARKs") }
            marks.append(stack.count)
        case .stop: break  // handled by load
        case .pop:
            if stack.count > (marks.last ?? 0) { stack.removeLast() } else { _ = try popToMark() }
        case .popMark: _ = try popToMark()
        case .dup: push(try top())

        case .none: push(.none)
        case .newtrue: push(.bool(true))
        case .newfalse: push(.bool(false))
        case .binint1: push(.int(Int(try r.uint8("BININT1 argument"))))
        case .binint2: push(.int(Int(try r.unsignedLE(2, "BININT2 argument"))))
        case .binint: push(.int(Int(try r.int32LE("BININT argument"))))
        case .long1:
            let n = Int(try r.uint8("LONG1 length"))
            push(wideInt(try r.take(n, "LONG1 bytes")))
        case .long4:
            let n = Int(try r.int32LE("LONG4 length"))
            guard n >= 0, n <= Self.maxWideIntBytes else { throw fail("LONG4 of \(n) bytes") }
            push(wideInt(try r.take(n, "LONG4 bytes")))
        case .int:
            guard let v = PickleText.intOrBool(try r.line("INT text")) else { throw fail("bad INT text") }
            push(v)
        case .long:
            guard let v = PickleText.long(try r.line("LONG text")) else { throw fail("bad or too large LONG text") }
            push(v)
        case .float:
            guard let v = PickleText.float(try r.line("FLOAT text")) else { throw fail("bad FLOAT text") }
            push(.float(v))
        case .binfloat:
            push(.float(Double(bitPattern: UInt64(bigEndian: try r.unsignedLE(8, "BINFLOAT argument")))))

        case .shortBinstring:
            let n = Int(try r.uint8("SHORT_BINSTRING length"))
            push(PickleText.python2String(try r.take(n, "SHORT_BINSTRING bytes")))
        case .binstring:
            let n = Int(try r.int32LE("BINSTRING length"))
            guard n >= 0 else { throw fail("negative BINSTRING length") }
            push(PickleText.python2String(try r.take(n, "BINSTRING bytes")))
        case .string:
            guard let bytes = PickleText.quotedBytes(try r.line("STRING text")) else { throw fail("bad STRING text") }
            push(bytes.withUnsafeBytes { PickleText.python2String($0) })
        case .binunicode:
            let n = Int(try r.unsignedLE(4, "BINUNICODE length"))
            push(.string(try text(try r.take(n, "BINUNICODE bytes"), "BINUNICODE")))
        case .shortBinunicode:
            let n = Int(try r.uint8("SHORT_BINUNICODE length"))
            push(.string(try text(try r.take(n, "SHORT_BINUNICODE bytes"), "SHORT_BINUNICODE")))
        case .binunicode8:
            let n = try r.unsignedLE(8, "BINUNICODE8 length")
            guard n <= UInt64(r.remaining) else { try r.require(Int.max, "BINUNICODE8 bytes"); return }
            push(.string(try text(try r.take(Int(n), "BINUNICODE8 bytes"), "BINUNICODE8")))
        case .unicode:
            guard let s = PickleText.rawUnicodeEscape(try r.line("UNICODE text")) else { throw fail("bad UNICODE text") }
            push(.string(s))
        case .shortBinbytes:
            let n = Int(try r.uint8("SHORT_BINBYTES length"))
            push(.bytes(Data(try r.take(n, "SHORT_BINBYTES bytes"))))
        case .binbytes:
            let n = Int(try r.unsignedLE(4, "BINBYTES length"))
            push(.bytes(Data(try r.take(n, "BINBYTES bytes"))))
        case .binbytes8:
            let n = try r.unsignedLE(8, "BINBYTES8 length")
            guard n <= UInt64(r.remaining) else { try r.require(Int.max, "BINBYTES8 bytes"); return }
            push(.bytes(Data(try r.take(Int(n), "BINBYTES8 bytes"))))

        case .emptyTuple: push(.tuple(newSequence([])))
        case .tuple: push(.tuple(newSequence(try popToMark())))
        case .tuple1:
            let a = try pop()
            push(.tuple(newSequence([a])))
        case .tuple2:
            let b = try pop(), a = try pop()
            push(.tuple(newSequence([a, b])))
        case .tuple3:
            let c = try pop(), b = try pop(), a = try pop()
            push(.tuple(newSequence([a, b, c])))
        case .emptyList, .emptySet: push(.list(newSequence([])))
        case .list: push(.list(newSequence(try popToMark())))
        case .frozenset: push(.tuple(newSequence(try popToMark())))
        case .append:
            let item = try pop()
            try appendItems([item], to: try top())
        case .appends, .additems:
            let items = try popToMark()
            try appendItems(items, to: try top())
        case .emptyDict: push(.dict(newDict()))
        case .dict:
            let d = newDict()
            try setItems(try popToMark(), into: .dict(d))
            push(.dict(d))
        case .setitem:
            let value = try pop(), key = try pop()
            try setItems([key, value], into: try top())
        case .setitems:
            let flat = try popToMark()
            try setItems(flat, into: try top())

        case .put:
            guard let text = PickleText.ascii(try r.line("PUT index")), let i = Int(text) else { throw fail("bad PUT") }
            try memoPut(i)
        case .binput: try memoPut(Int(try r.uint8("BINPUT index")))
        case .longBinput: try memoPut(Int(try r.unsignedLE(4, "LONG_BINPUT index")))
        case .memoize: try memoPut(memo.count)
        case .get:
            guard let text = PickleText.ascii(try r.line("GET index")), let i = Int(text) else { throw fail("bad GET") }
            push(try memoGet(i))
        case .binget: push(try memoGet(Int(try r.uint8("BINGET index"))))
        case .longBinget: push(try memoGet(Int(try r.unsignedLE(4, "LONG_BINGET index"))))

        case .global:
            let module = PickleText.ascii(try r.line("GLOBAL module")) ?? "?"
            let name = PickleText.ascii(try r.line("GLOBAL name")) ?? "?"
            push(try resolveGlobal(module: module, name: name))
        case .stackGlobal:
            let name = try pop(), module = try pop()
            guard case let .string(n) = name, case let .string(m) = module else {
                throw fail("STACK_GLOBAL needs two strings")
            }
            push(try resolveGlobal(module: m, name: n))
        case .reduce:
            let args = try pop(), callable = try pop()
            guard let argList = args.sequenceItems else { throw fail("REDUCE arguments are a \(args.typeName)") }
            guard case let .global(g) = callable else { throw fail("REDUCE on a \(callable.typeName)") }
            let result = try g.reduce(argList, fail: { self.fail($0) })
            if case let .dict(d) = result { dicts.append(d) }
            push(result)
        case .build:
            // OrderedDict state dicts carry `_metadata` as instance state; tensors may carry hooks. Neither
            // changes a value, so the state is dropped; anything else has no business being BUILT here.
            let state = try pop()
            let target = try top()
            switch target {
            case .dict, .tensor: _ = state
            default: throw fail("BUILD on a \(target.typeName)")
            }
        case .binpersid:
            let pid = try pop()
            push(try persistentLoad(pid, opcodeOffset))
        case .persid:
            let text = PickleText.ascii(try r.line("PERSID text")) ?? ""
            push(try persistentLoad(.string(text), opcodeOffset))

        case .inst:
            let module = PickleText.ascii(try r.line("INST module")) ?? "?"
            let name = PickleText.ascii(try r.line("INST name")) ?? "?"
            throw CheckpointError.forbiddenGlobal(file: file, offset: opcodeOffset, global: "\(module).\(name)")
        case .obj, .newobj, .newobjEx, .ext1, .ext2, .ext4, .bytearray8, .nextBuffer, .readonlyBuffer:
            throw fail("opcode \(op.name) is not allowed in a checkpoint (it builds arbitrary objects or buffers)")
        }
    }
}
