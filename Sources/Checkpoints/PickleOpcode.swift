/// Pickle opcodes (protocols 0-5) by byte value; the names are CPython's (`Lib/pickletools.py`).
/// Knowing all of them lets errors name a refused opcode rather than print a byte.
enum PickleOpcode: UInt8 {
    // Protocol 0 and 1.
    case mark = 0x28           // (
    case stop = 0x2E           // .
    case pop = 0x30            // 0
    case popMark = 0x31        // 1
    case dup = 0x32            // 2
    case float = 0x46          // F
    case int = 0x49            // I
    case binint = 0x4A         // J
    case binint1 = 0x4B        // K
    case long = 0x4C           // L
    case binint2 = 0x4D        // M
    case none = 0x4E           // N
    case persid = 0x50         // P
    case binpersid = 0x51      // Q
    case reduce = 0x52         // R
    case string = 0x53         // S
    case binstring = 0x54      // T
    case shortBinstring = 0x55 // U
    case unicode = 0x56        // V
    case binunicode = 0x58     // X
    case append = 0x61         // a
    case build = 0x62          // b
    case global = 0x63         // c
    case dict = 0x64           // d
    case emptyDict = 0x7D      // }
    case appends = 0x65        // e
    case get = 0x67            // g
    case binget = 0x68         // h
    case inst = 0x69           // i
    case longBinget = 0x6A     // j
    case list = 0x6C           // l
    case emptyList = 0x5D      // ]
    case obj = 0x6F            // o
    case put = 0x70            // p
    case binput = 0x71         // q
    case longBinput = 0x72     // r
    case setitem = 0x73        // s
    case tuple = 0x74          // t
    case emptyTuple = 0x29     // )
    case setitems = 0x75       // u
    case binfloat = 0x47       // G
    // Protocol 2.
    case proto = 0x80
    case newobj = 0x81
    case ext1 = 0x82
    case ext2 = 0x83
    case ext4 = 0x84
    case tuple1 = 0x85
    case tuple2 = 0x86
    case tuple3 = 0x87
    case newtrue = 0x88
    case newfalse = 0x89
    case long1 = 0x8A
    case long4 = 0x8B
    // Protocol 3.
    case binbytes = 0x42       // B
    case shortBinbytes = 0x43  // C
    // Protocol 4.
    case shortBinunicode = 0x8C
    case binunicode8 = 0x8D
    case binbytes8 = 0x8E
    case emptySet = 0x8F
    case additems = 0x90
    case frozenset = 0x91
    case newobjEx = 0x92
    case stackGlobal = 0x93
    case memoize = 0x94
    case frame = 0x95
    // Protocol 5.
    case bytearray8 = 0x96
    case nextBuffer = 0x97
    case readonlyBuffer = 0x98

    var name: String { String(describing: self).uppercased() }
}
