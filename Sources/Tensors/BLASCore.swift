// Which OpenBLAS kernel family the process runs: the library's own CPU detection can miss AVX-512.
import COpenBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS kernel selection: the widest kernels the CPU runs, whatever the environment pinned.
///
/// OpenBLAS (a DYNAMIC_ARCH build) picks its kernel family when the library loads, from the CPU or
/// from the `OPENBLAS_CORETYPE` variable. The build machines' environment pins `OPENBLAS_CORETYPE=Haswell`
/// (AVX2) for every process, which caps sgemm at half the FMA peak of their AVX-512 cores (measured
/// 134 vs 268 GFLOP/s per core; the VGG convolutions ran 1.7–2x slower). The variable is read only
/// at load time, so `mpq` re-executes itself once with `OPENBLAS_CORETYPE=SkylakeX` when the loaded
/// family is an AVX2 one and the CPU has AVX-512. Set `MPQ_KEEP_BLAS_CORE=1` to keep the inherited
/// choice. Results stay bit-identical across thread counts either way; they may differ in the last
/// bits between kernel families.
public enum BLASCore {
    /// The kernel family this process's OpenBLAS runs.
    public static var current: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The kernel family to ask for instead of `current`, or nil to keep it: SkylakeX (AVX-512 F/CD/BW/DQ/VL)
    /// when the library chose an AVX2 family on a CPU that has those extensions.
    static func preferred(current: String, cpuFlags: Set<Substring>) -> String? {
        let avx2Families: Set<String> = ["Haswell", "Zen"]
        let needed: [Substring] = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        guard avx2Families.contains(current), needed.allSatisfy(cpuFlags.contains) else { return nil }
        return "SkylakeX"
    }

    /// The `flags` line of /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<Substring> {
        // Read to EOF: procfs reports a size of 0, which size-based file reading trusts.
        guard let data = FileHandle(forReadingAtPath: "/proc/cpuinfo")?.readDataToEndOfFile(),
              let info = String(data: data, encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }

    /// `OPENBLAS_CORETYPE` for this process, when `preferred` asks for another kernel family (nil: keep it;
    /// `MPQ_KEEP_BLAS_CORE` set: keep it). Applied by `ProcessEnvironment.reexecIfNeeded`.
    static func requestedCore(environment: [String: String]) -> String? {
        guard environment["MPQ_KEEP_BLAS_CORE"] == nil else { return nil }
        return preferred(current: current, cpuFlags: cpuFlags())
    }
}
