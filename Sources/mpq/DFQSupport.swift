import ArgumentParser
import Foundation
import Quantization
import Workflows

extension PointAllocation: ExpressibleByArgument {}
extension ErrorScope: ExpressibleByArgument {}

/// `--cle`, `--bias-correction`, `--adaround-iterations`: the DFQ pre- and post-steps and AdaRound's budget, the
/// same in quantize and compare.
struct DFQOptions: ParsableArguments {
    @Flag(help: ArgumentHelp("Cross-layer equalization before calibration (DFQ's first step; ReLU and linear conv "
        + "pairs, ReLU6 pairs skipped; the float model's outputs do not change)."))
    var cle = false

    @Flag(name: .customLong("bias-correction"),
          help: "Empirical bias correction after quantization (DFQ's last step, on the calibration images).")
    var biasCorrection = false

    @Option(name: .customLong("adaround-iterations"),
            help: ArgumentHelp("adaround, multipoint-adaround: Adam steps per layer.", valueName: "n"))
    var adaroundIterations: Int = AdaRoundOptions().iterations

    func validate() throws {
        guard adaroundIterations >= 1 else {
            throw ValidationError("--adaround-iterations must be at least 1, got \(adaroundIterations).")
        }
    }

    var adaroundOptions: AdaRoundOptions { AdaRoundOptions(iterations: adaroundIterations) }
}
