/// Every size limit mpq's readers enforce on untrusted files, in one place, each with its reason.
///
/// A limit is a promise that no hostile or broken file costs more than a bounded amount of memory or time before
/// it is refused, and each is set far above what any real input needs (the numbers for real files are in the
/// comments). Readers refuse a file over a limit with an error naming the file, the limit and its value.
/// docs/formats.md lists them for users.
///
/// This module has no dependencies, so every reader (Imaging, VOC, Checkpoints, SSD) can import it without
/// importing one another; the values live nowhere else.
public enum InputLimits {
    // MARK: images

    /// Decoded pixels of one image (width × height after EXIF rotation): 2^28 = 268 M pixels, an 805 MB RGB buffer,
    /// 16384 × 16384. A 20-byte JPEG header can declare 65,500 × 65,500 (12 GB); the decoder checks this before it
    /// allocates. VOC images are 500 × 375; a 200-megapixel phone photo still fits.
    public static let maxImagePixels = 1 << 28

    // MARK: VOC annotations

    /// Bytes of one annotation file: 1 MiB. The largest VOC2007/2012 annotation is about 6 KB (42 objects); the cap
    /// bounds libxml2's memory and the parse time of a file named like an annotation.
    public static let maxAnnotationBytes = 1 << 20
    /// Element nesting depth of an annotation: 32. VOC nests 5 deep (annotation/object/part/bndbox/xmin); a
    /// deeper tree is not an annotation, and the reader walks it without recursion anyway.
    public static let maxAnnotationDepth = 32

    // MARK: checkpoints

    /// Elements of one tensor: 2^32 (16 GiB as float32). vgg16-ssd's largest tensor has 2.4 M elements, the largest
    /// conv of any common detector under 40 M. Bounds every size computed from a declared shape before the shape is
    /// compared with the bytes that back it.
    public static let maxTensorElements = 1 << 32
    /// Bytes of a safetensors JSON header: 100 MB, the reference implementation's own limit (bounds the JSON parse).
    public static let maxSafetensorsHeaderBytes = 100_000_000
    /// Pickle opcodes in one pickle: 20 M. A 300-tensor state dict runs about 10 k; bounds the interpreter's time.
    public static let maxPickleOpcodes = 20_000_000
    /// Values on the pickle stack at once: 1 M. A state dict's stack stays under 100 deep (containers are built
    /// with MARK … SETITEMS in batches of 1000); bounds memory of a file of repeated pushes.
    public static let maxPickleStack = 1_000_000
    /// Nested MARKs: 100 k (a state dict nests fewer than 10).
    public static let maxPickleMarks = 100_000
    /// Memo entries: 1 M (a 300-tensor state dict memoizes about 3 k values); bounds the memo's memory.
    public static let maxPickleMemo = 1_000_000
    /// Bytes of one LONG1/LONG4 integer: 64 (the legacy magic number is 10 bytes; sizes fit in 8).
    public static let maxPickleIntegerBytes = 64
    /// Nesting of `{'state_dict': {'model': …}}` wrappers unwrapped: 4 (real checkpoints use at most 2).
    public static let maxWrapperDepth = 4
    /// Entries in a zip `.pth`: 50 k. `torch.save` writes one per storage plus 3 (about 300 for vgg16-ssd); bounds
    /// the central-directory walk of an archive of millions of empty entries.
    public static let maxZipEntries = 50_000
    /// Uncompressed / compressed size of a deflated zip entry: 1032, deflate's theoretical maximum (258-byte matches
    /// coded in 2 bits), so no honest entry is refused and a zip bomb is refused before it is inflated.
    /// (`torch.save` stores entries uncompressed; a stored entry may not be larger than its stored bytes.)
    public static let maxZipCompressionRatio: UInt64 = 1032

    // MARK: quantized model files

    /// Points (rows) per output channel of a quantized conv: 64 (the quantizer adds at most 8 at 8 bits).
    public static let maxQuantizedPoints = 64
    /// One size of a quantized conv's `[O, C/groups, kh, kw]`: 2^20 (the widest real conv has 4096 channels).
    public static let maxQuantizedDimension = 1 << 20
}

extension InputLimits {
    /// Why `shape` is refused under `maxTensorElements` (nil when its element count is within the limit).
    public static func tensorElementsProblem(_ shape: [Int]) -> String? {
        guard !shape.contains(0) else { return nil }
        var n = 1
        for d in shape where d > 0 {
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow || m > maxTensorElements {
                return "shape \(shape) has more than \(maxTensorElements) elements, the limit for one tensor"
            }
            n = m
        }
        return nil
    }
}
