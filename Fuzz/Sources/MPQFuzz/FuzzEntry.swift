import Foundation
@testable import Checkpoints
import Imaging
import SSD
import VOC

/// The parser under test, from `FUZZ_TARGET` (read once).
private let target: String = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""

/// A zip `.pth` is read through ZIPFoundation's file API, so its bytes go through one scratch file per process.
private let scratch: URL = {
    let dir = ProcessInfo.processInfo.environment["FUZZ_SCRATCH"] ?? NSTemporaryDirectory()
    return URL(fileURLWithPath: dir).appendingPathComponent("mpq-fuzz-\(getpid()).pth")
}()

/// libFuzzer's entry point: every input must come back as a value or a thrown error — a trap, a sanitizer
/// report, a timeout or an allocation over the limit is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    switch target {
    case "xml":
        _ = try? AnnotationParser.parse(data, file: "fuzz.xml")
    case "jpeg":
        _ = try? JPEGDecoder.size(of: data, file: "fuzz.jpg")
        _ = try? JPEGDecoder.decode(data, file: "fuzz.jpg")
    case "safetensors":
        _ = try? SafeTensors.read(data: data, file: "fuzz.safetensors")
    case "pickle":
        // The first byte picks the container, the rest is the file: legacy .pth (raw pickles + storages) or zip.
        guard let first = data.first else { return 0 }
        let body = data.dropFirst()
        if first & 1 == 0 {
            _ = try? PyTorchLegacyReader.read(data: Data(body), file: "fuzz.pth")
        } else {
            guard (try? Data(body).write(to: scratch)) != nil else { return 0 }
            _ = try? PyTorchZipReader.read(scratch)
        }
    case "quantized":
        // The safetensors container, then the quantized-file rules, then the float network it must fit.
        guard let dict = try? SafeTensors.read(data: data, file: "fuzz.safetensors"),
              let file = try? QuantizedFile(reading: dict, file: "fuzz.safetensors") else { return 0 }
        _ = try? SSDModel(loading: file.floatStateDict(), file: "fuzz.safetensors")
    default:
        fatalError("FUZZ_TARGET must be xml, pickle, safetensors, jpeg or quantized (got '\(target)')")
    }
    return 0
}
