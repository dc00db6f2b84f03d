/// One (layer, bits) unit of a sensitivity run, as `SensitivityRunner.run(finished:)` reports it: what a shard
/// journal records so that shards run apart can be put back into one `SensitivityReport`.
public struct SensitivityUnitResult: Sendable, Equatable {
    public let layer: String
    public let params: Int
    public let macs: Int
    public let result: SensitivityResult
    /// The float model's mAP on the evaluation images (the same in every unit of a run).
    public let mapFP32: Double
    /// Quantizing and scoring this unit.
    public let seconds: Double

    public init(layer: String, params: Int, macs: Int, result: SensitivityResult, mapFP32: Double, seconds: Double) {
        self.layer = layer
        self.params = params
        self.macs = macs
        self.result = result
        self.mapFP32 = mapFP32
        self.seconds = seconds
    }
}
