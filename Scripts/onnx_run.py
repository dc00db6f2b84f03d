#!/usr/bin/env python3
"""Checks and runs exported ONNX models with ONNX Runtime, for the export tests (Tests/mpqTests/ExportTests.swift).

    onnx_run.py JOBS.json

JOBS.json is a list of {"model": path, "inputs": [raw float32 [1,3,300,300] files], "out": folder,
"optimized": path or null, "unoptimized": optional bool}. For each job: onnx.checker (full check, shape inference),
one ONNX Runtime CPU session (graph optimization ORT_ENABLE_EXTENDED, or none with "unoptimized"; the optimized
model saved to "optimized" when given), every input run,
each output written as <out>/<input stem>.<output name>.f32 (raw little-endian float32). Prints one JSON object:
{"models": [{"model", "outputs": {name: shape}, "metadata": {...}, "conv_integer_weight_types": {type: count},
"optimized_ops": {op: count}}]}.
"""
import json
import os
import sys
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort


def run(job):
    model = onnx.load(job["model"])
    onnx.checker.check_model(model, full_check=True)
    options = ort.SessionOptions()
    # "unoptimized": true runs the graph as written (no fusion), i.e. the ONNX semantics of its ops.
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if job.get("unoptimized")
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
    options.intra_op_num_threads = 1
    if job.get("optimized"):
        options.optimized_model_filepath = job["optimized"]
    session = ort.InferenceSession(job["model"], options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    os.makedirs(job["out"], exist_ok=True)
    shapes = {}
    for path in job["inputs"]:
        x = np.fromfile(path, dtype="<f4").reshape(1, 3, 300, 300)
        outputs = session.run(None, {"image": x})
        stem = os.path.splitext(os.path.basename(path))[0]
        for name, value in zip(names, outputs):
            value.astype("<f4").tofile(os.path.join(job["out"], f"{stem}.{name}.f32"))
            shapes[name] = list(value.shape)
    types = {i.name: onnx.TensorProto.DataType.Name(i.data_type) for i in model.graph.initializer}
    report = {"model": job["model"], "outputs": shapes,
              "metadata": {p.key: p.value for p in model.metadata_props},
              "conv_integer_weight_types": dict(Counter(types.get(n.input[1], "computed") for n in model.graph.node
                                                        if n.op_type == "ConvInteger"))}
    if job.get("optimized"):
        optimized = onnx.load(job["optimized"])
        report["optimized_ops"] = dict(Counter(n.op_type for n in optimized.graph.node))
    return report


def main():
    jobs = json.load(open(sys.argv[1]))
    print(json.dumps({"models": [run(job) for job in jobs]}))


if __name__ == "__main__":
    main()
