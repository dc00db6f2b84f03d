import Foundation

/// Settings the shared libraries read from the environment when they are loaded — before `main` runs, so they
/// can only be changed by re-executing the program with them set. `mpq` does that once, first thing in `main`:
///
/// - `OPENBLAS_CORETYPE`: OpenBLAS's kernel family, when it chose an AVX2 one on an AVX-512 CPU (`BLASCore`).
/// - `GOMP_SPINCOUNT` = `defaultSpinCount`, unless the user set `GOMP_SPINCOUNT` or `OMP_WAIT_POLICY`. oneDNN runs
///   its primitives (and our quantize and row-sum steps) in GNU OpenMP parallel regions; at each region's end a
///   thread that finished first spins for its partner. libgomp's default spin is 300 000 iterations (milliseconds)
///   and it shortens it only when a process has more threads than the machine has CPUs — not when *other*
///   processes hold the CPUs. On a shared or busy machine the partner thread is often descheduled, and every one
///   of a forward pass's hundreds of regions then burns a full spin: measured on the demo (2 cores, load 4),
///   `sensitivity --threads 2` took 143 s against 4.7 s at `--threads 1`, 93% of it inside libgomp's spin loop.
///   A spin of 10 000 iterations (tens of microseconds) still bridges the short gaps between regions of one pass
///   (the quiet machine's latency does not change, `docs/performance.md`) and then sleeps.
public enum ProcessEnvironment {
    /// libgomp's spin before a waiting thread sleeps (iterations), when the user has not chosen one.
    public static let defaultSpinCount = "10000"
    /// Set in the re-executed process: never re-execute twice, even if a library ignored a setting.
    static let reexecMarker = "MPQ_ENVIRONMENT_SET"

    /// How libgomp's waiting threads spin in a process with `environment`, for reports.
    public static func openMPSpin(_ environment: [String: String]) -> String {
        if let count = environment["GOMP_SPINCOUNT"] { return count }
        if let policy = environment["OMP_WAIT_POLICY"] { return "OMP_WAIT_POLICY=\(policy)" }
        return "libgomp default"
    }

    /// The variables to set (name, value) before the libraries load, given this process's environment and
    /// OpenBLAS's requested kernel family.
    static func changes(environment: [String: String], blasCore: String?) -> [(String, String)] {
        guard environment[reexecMarker] == nil else { return [] }
        var out: [(String, String)] = []
        if let blasCore { out.append(("OPENBLAS_CORETYPE", blasCore)) }
        if environment["GOMP_SPINCOUNT"] == nil, environment["OMP_WAIT_POLICY"] == nil {
            out.append(("GOMP_SPINCOUNT", defaultSpinCount))
        }
        return out
    }

    /// Re-executes the running program once with `changes` applied; returns (doing nothing) when there are none
    /// or when the re-exec fails (no /proc: run on with the libraries' defaults). Call first thing in `main`,
    /// before any output or thread.
    public static func reexecIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[reexecMarker] == nil else { return }
        let changes = changes(environment: environment, blasCore: BLASCore.requestedCore(environment: environment))
        guard !changes.isEmpty else { return }
        for (name, value) in changes { setenv(name, value, 1) }
        setenv(reexecMarker, "1", 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        for p in argv { free(p) }
    }
}
