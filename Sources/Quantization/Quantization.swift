// The Quantization module: post-training quantization of SSD convolutions (docs/quantizer.md).
//
// Data flow: weights W [C, d] per conv (BN folded, d = in/groups·kh·kw) and, for the output-error-driven
// methods, per-group Gram matrices H = XᵀX of the conv's im2col input over calibration images.
//
// Multipoint quantization (the method this toolkit is about):
//   grid            G_b = {-(2^(b-1)-1) … 2^(b-1)-1}                                   (QuantGrid)
//   one point       a·q, a > 0, q ∈ G_b^d
//   channel         ŵ_c = a_1 q_1 + … + a_n q_n
//   greedy step     (a_i, q_i) = argmin_{a,q} ||r_{i-1} - a q||², r_0 = w, r_i = r_{i-1} - a_i q_i,
//                   solved exactly by the breakpoint sweep                                  (GreedyStep.swift)
//   output error    e_c(n) = (w_c - ŵ_c^(n))ᵀ H (w_c - ŵ_c^(n)), normalised by Σ_c w_cᵀ H w_c
//   allocation      1 point each, then repeatedly one more point to the channel with the largest error
//                   reduction per added bit, until --avg-bits is met or every channel is under
//                   --max-error                                                       (MultipointAllocator)
//   average bits    b·Σ n_c d_c / Σ d_c   (with scales: + 32·Σ n_c / Σ d_c)                (Accounting)
//   extra MACs      Σ n_c d_c / Σ d_c - 1
//   execution       one b-bit layer with Σ n_c rows, scaled per row and summed per channel
//                   ("common operands", QuantizedWeights.expandedCommonOperands)
//
// Baselines: rtn (per-channel min-max round-to-nearest) and mse (per-channel MSE-optimal clipping, exact),
// in WeightQuantizers.swift. Activations: per-tensor b-bit fake quantization with min-max, percentile or
// MSE clips from a one-pass RangeObserver (ActivationQuantizer.swift, RangeObserver.swift).

import Tensors

/// Default worker count: the toolkit-wide setting of the runtime (`Runtime.setThreads`, default = cores).
public var defaultQuantizationThreads: Int { Runtime.threads }
