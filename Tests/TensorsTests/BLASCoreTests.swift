// When mpq asks OpenBLAS for its AVX-512 kernels instead of the loaded family.
import XCTest
@testable import Tensors

final class BLASCoreTests: XCTestCase {
    private let avx512: Set<Substring> = ["fma", "avx2", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    func testAVX2FamilyOnAnAVX512CPUIsUpgraded() {
        XCTAssertEqual(BLASCore.preferred(current: "Haswell", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLASCore.preferred(current: "Zen", cpuFlags: avx512), "SkylakeX")
    }

    func testKeepsTheFamilyWhenTheCPUOrTheLibraryRulesItOut() {
        XCTAssertNil(BLASCore.preferred(current: "Haswell", cpuFlags: ["fma", "avx2", "avx512f"]))   // no BW/DQ/VL
        XCTAssertNil(BLASCore.preferred(current: "SkylakeX", cpuFlags: avx512))
        XCTAssertNil(BLASCore.preferred(current: "Cooperlake", cpuFlags: avx512))
    }

    func testReadsThisMachinesFlagsAndLoadedFamily() {
        let flags = BLASCore.cpuFlags()
        #if arch(x86_64) && os(Linux)
        XCTAssertTrue(flags.contains("sse2"), "every x86-64 Linux cpuinfo lists sse2")
        #endif
        XCTAssertFalse(BLASCore.current.isEmpty)
    }
}
