import Foundation

/// Settings the shared libraries read from the environment when they are loaded — before `main` runs, so they
/// can only be changed by re-executing the program with them set. `mpq` does that once, first thing in `main`,
/// for `OPENBLAS_CORETYPE` (OpenBLAS's kernel family, when it chose an AVX2 one on an AVX-512 CPU: `BLASCore`).
///
/// GNU OpenMP's wait policy is left to the user, on purpose. oneDNN runs its primitives (and our quantize and
/// row-sum steps) in libgomp parallel regions; a thread that finishes a region first spins for its partner
/// (300 000 iterations by default) before it sleeps. On a quiet machine that spin is what makes 2 threads fast;
/// on a machine whose cores other processes hold, the partner is often descheduled and every region burns a whole
/// spin. Measured on the 2-core Zen 5, demo model: quiet, `bench --threads 2` forward 1.35 ms with the default
/// spin, 3.3 ms with `OMP_WAIT_POLICY=passive`, 44 ms with `GOMP_SPINCOUNT=10000`; busy (load 4),
/// `sensitivity --threads 2` 143 s with the default, 14 s passive, against 4.7 s at `--threads 1`. No setting
/// is right for both, so mpq keeps libgomp's default and `docs/performance.md` says what to do on a busy machine
/// (`--threads` no larger than the free cores, or `OMP_WAIT_POLICY=passive`); `bench --json` reports the spin.
public enum ProcessEnvironment {
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
        guard environment[reexecMarker] == nil, let blasCore else { return [] }
        return [("OPENBLAS_CORETYPE", blasCore)]
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
