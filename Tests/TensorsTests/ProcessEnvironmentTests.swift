@testable import Tensors
import XCTest

/// What `mpq` sets before its libraries load (`ProcessEnvironment`).
final class ProcessEnvironmentTests: XCTestCase {
    private func names(_ changes: [(String, String)]) -> [String] { changes.map { "\($0.0)=\($0.1)" } }

    func testOnlyTheBLASCoreIsSetAndOnlyOnce() {
        XCTAssertEqual(names(ProcessEnvironment.changes(environment: [:], blasCore: nil)), [])
        XCTAssertEqual(names(ProcessEnvironment.changes(environment: [:], blasCore: "SkylakeX")),
                       ["OPENBLAS_CORETYPE=SkylakeX"], "the OpenMP spin stays the user's (see ProcessEnvironment)")
        XCTAssertEqual(names(ProcessEnvironment.changes(environment: ["MPQ_ENVIRONMENT_SET": "1"], blasCore: "SkylakeX")),
                       [], "never a second re-exec")
    }

    func testReportedSpin() {
        XCTAssertEqual(ProcessEnvironment.openMPSpin(["GOMP_SPINCOUNT": "10000"]), "10000")
        XCTAssertEqual(ProcessEnvironment.openMPSpin(["OMP_WAIT_POLICY": "passive"]), "OMP_WAIT_POLICY=passive")
        XCTAssertEqual(ProcessEnvironment.openMPSpin([:]), "libgomp default")
    }
}
