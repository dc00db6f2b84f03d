import Tensors

// Each network's forward pass for the oneDNN engine, stage by stage as its `runStage` runs it (same stage
// tables, same buffer roles; see `OneDNNBuilder`).

extension InvertedResidual {
    /// `current <- block(current)`; the residual add is fused into the projection (added into the block input).
    func compile(_ b: OneDNNBuilder) throws {
        let input = b.current
        let hidden = try expand.map { try b.conv($0, input, slot: b.otherSlot(input), onlyReader: depthwise) } ?? input
        let dw = try b.conv(depthwise, hidden, slot: OneDNNBuilder.Slot.extra, onlyReader: project)
        if residual {
            try b.conv(project, dw, into: input, accumulate: true)
        } else {
            // The block input is dead once the depthwise conv has read it: the output may take its slot.
            b.current = try b.conv(project, dw, slot: input.slot <= 1 ? input.slot : 0)
        }
    }

    /// `current <- project(depthwise(current))` (the second half of a block split after its expansion).
    func compileAfterExpansion(_ b: OneDNNBuilder) throws {
        let dw = try b.conv(depthwise, b.current, slot: OneDNNBuilder.Slot.extra)
        b.current = try b.conv(project, dw, slot: b.otherSlot(b.current))
    }
}

extension MobileNetV2SSDLite {
    func compile(_ b: OneDNNBuilder, stages: Range<Int>) throws {
        for stage in Self.stages[stages] {
            switch stage {
            case .stem: try b.step(stem)
            case let .block(i): try blocks[i].compile(b)
            case let .expansion(i): if let expand = blocks[i].expand { try b.step(expand) }
            case let .afterExpansion(i): try blocks[i].compileAfterExpansion(b)
            case .last: try b.step(last)
            case let .extra(i): try extras[i].compile(b)
            case let .heads(i): try b.heads(heads, source: i, b.current)
            }
        }
    }
}

extension MobileNetV1SSD {
    func compile(_ b: OneDNNBuilder, stages: Range<Int>) throws {
        for stage in Self.stages[stages] {
            switch stage {
            case .stem: try b.step(stem)
            case let .block(i):
                try b.step(blocks[i].depthwise)
                try b.step(blocks[i].pointwise)
            case let .extra(i):
                try b.step(extras[i].reduce, onlyReader: extras[i].expand)
                try b.step(extras[i].expand)
            case let .heads(i): try b.heads(heads, source: i, b.current)
            }
        }
    }
}

extension VGGBase {
    /// Entries `range` on `current`.
    /// A conv followed (past ReLU slots, inside the range) by another conv is that conv's only reader.
    func compile(_ range: Range<Int>, _ b: OneDNNBuilder) throws {
        for k in range {
            switch slots[k] {
            case let .conv(unit):
                let next = slots[(k + 1)..<range.upperBound].first { if case .relu = $0 { false } else { true } }
                if case let .conv(reader)? = next { try b.step(unit, onlyReader: reader) } else { try b.step(unit) }
            case .relu: break
            case let .pool(pool): try b.pool(pool)
            }
        }
    }
}

extension VGGStage {
    /// Both VGG networks' passes: the stage table of `runStage`, with the networks' own source-0 normalisation
    /// (`normalise`, a Swift step) and extra stage (`extra`).
    static func compile(extras: Int, stages range: Range<Int>, base: VGGBase, heads: DetectionHeads, _ b: OneDNNBuilder,
                        normalise: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void,
                        label: String, extra: (Int) throws -> Void) throws {
        for stage in stages(extras: extras)[range] {
            switch stage {
            case let .base(range): try base.compile(range, b)
            case .heads(0):
                try b.heads(heads, source: 0, try b.custom(b.current, slot: OneDNNBuilder.Slot.source, label: label,
                                                           normalise))
            case let .heads(i): try b.heads(heads, source: i, b.current)
            case let .extra(i): try extra(i)
            }
        }
    }
}

extension VGG16SSD {
    func compile(_ b: OneDNNBuilder, stages: Range<Int>) throws {
        let norm = sourceNorm
        try VGGStage.compile(extras: extras.count, stages: stages, base: base, heads: heads, b,
                             normalise: { norm.applyNHWC($0, $1, channels: $2, pixels: $3) },
                             label: "source normalisation") { i in
            try b.step(extras[i].reduce, onlyReader: extras[i].expand)
            try b.step(extras[i].expand)
        }
    }
}

extension SSD300 {
    func compile(_ b: OneDNNBuilder, stages: Range<Int>) throws {
        let weight = l2NormWeight
        try VGGStage.compile(extras: extras.count, stages: stages, base: base, heads: heads, b,
                             normalise: { l2NormNHWC($0, $1, weight: weight, eps: 1e-10, channels: $2, pixels: $3) },
                             label: "L2Norm") { k in try b.step(extras[k]) }
    }
}

extension SourceNormalization {
    /// `apply` on NHWC data (`pixels` rows of `channels`), with the same arithmetic per element.
    func applyNHWC(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels c: Int, pixels: Int) {
        switch self {
        case let .batchNorm(affine):
            affine.scale.withUnsafeBufferPointer { s in
                affine.shift.withUnsafeBufferPointer { t in
                    for p in 0..<pixels {
                        for ch in 0..<c { y[p * c + ch] = x[p * c + ch] * s[ch] + t[ch] }
                    }
                }
            }
        case let .scaledL2Norm(norm):
            norm.scale.withUnsafeBufferPointer { s in
                for p in 0..<pixels {
                    let row = x + p * c, out = y + p * c
                    var sum: Float = 0
                    for ch in 0..<c { sum += row[ch] * row[ch] }
                    let n = max(sum.squareRoot(), 1e-12)
                    for ch in 0..<c { out[ch] = row[ch] / n * s[ch] }
                }
            }
        }
    }
}
