import ArgumentParser
import Foundation
import Evaluation
import Workflows

/// `--bootstrap N --seed S`, the same two options in evaluate, evaluate-detections, compare, quantize and demo.
struct BootstrapOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Paired bootstrap resamples of the scored images for the 95% intervals of each mAP "
        + "and of each mAP difference (0 turns it off).", valueName: "n"))
    var bootstrap: Int = MAPBootstrap.defaultResamples

    @Option(help: ArgumentHelp("The seed of the bootstrap's SplitMix64 generator (same seed, same resamples, same "
        + "intervals); in quantize and compare also of multipoint-random's channel draw.", valueName: "s"))
    var seed: UInt64 = MAPBootstrap.defaultSeed

    func validate() throws {
        guard bootstrap >= 0 else {
            throw ValidationError("--bootstrap takes a number of resamples (0 turns it off), got \(bootstrap).")
        }
    }

    /// The plain settings the jobs take (Workflows.BootstrapPlan).
    var plan: BootstrapPlan { BootstrapPlan(resamples: bootstrap, seed: seed) }

    /// The paired bootstrap of `models` on `truth`, or nil with `--bootstrap 0`.
    func run(_ truth: GroundTruth, _ models: [[[ScoredBox]]], metric: APMetric = .voc07,
             protocol evaluationProtocol: EvaluationProtocol = .devkit) -> MAPBootstrap? {
        plan.run(truth, models, metric: metric, protocol: evaluationProtocol)
    }

    func settings(images: Int) -> EvaluationReport.JSON.BootstrapSettings? { plan.settings(images: images) }
}
