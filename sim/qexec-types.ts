/**
 * The functional executor's options and what it reports (sim/qexec.ts runs it): options, per-layer
 * info for observers, accumulators computed outside the executor, per-layer accumulator facts, the
 * run's result.
 */
import type { ActivationCompression } from '../arch/spec.js';
import type { Tensor } from '../nets/graph.js';
import type { QLayer } from '../qnet/network.js';
import type { RequantConfig } from '../qnet/requant.js';
import type { AccumulationOrder, AccumulatorSpec, OverflowReport, PeForm } from './kernels/accumulator.js';
import type { SwampReport } from './kernels/fp-dot.js';
import type { LinearZeroCounts } from './kernels/zeros.js';

export interface QExecOptions {
  readonly requant: RequantConfig;
  readonly acc: AccumulatorSpec;
  /** default: channel-major K, one tile (a plain reference loop) */
  readonly order?: AccumulationOrder;
  /** default 'raw' (ORT-style: zero-point terms folded into the bias) */
  readonly form?: PeForm;
  /** called after each layer with its output (integer tensors as their ONNX dtype) */
  readonly onLayer?: (layer: QLayer, output: Tensor, info: LayerInfo) => void;
  /**
   * hand onLayer each linear layer's accumulators (LayerInfo.acc); without it a proved layer on
   * float requant computes its codes with the requantization fused and keeps no accumulators
   */
  readonly keepAccumulators?: boolean;
  /** count each conv / 2-D gemm's zero operands (sim/kernels/zeros.ts) into QExecResult.zeros */
  readonly zeros?: boolean;
  /** with `zeros`: also count the all-zero activation vectors an array of these rows and dataflow streams (arch pe.zeroSkipping) */
  readonly zeroVectors?: { readonly rows: number; readonly dataflow: 'ws' | 'os' };
  /** size every integer tensor a layer writes as this DRAM compression would (QExecResult.compressed) */
  readonly compression?: ActivationCompression;
}

/** What a linear layer reports besides its output. */
export interface LayerInfo {
  /**
   * the accumulators after the policy (conv NCHW, gemm [rows, N]); linear layers only, and only
   * with QExecOptions.keepAccumulators where the requantization could run fused
   */
  readonly acc?: Float64Array;
  readonly overflow?: OverflowReport;
}

/** A linear layer's accumulators computed outside the executor (qexec requantizes them). */
export interface LinearAccumulation {
  /** after the policy, in the layout convInt / gemmInt return */
  readonly acc: Float64Array;
  readonly outShape: readonly number[];
  /** the accumulators as requantize sees them: channel axis 1 */
  readonly rqShape: readonly number[];
  readonly overflow: OverflowReport;
}

/** Per linear layer: the accumulator it ran on and the smallest width that is provably safe. */
export interface LayerAccumulator {
  readonly bits: number;
  readonly policy: AccumulatorSpec['policy'];
  /** bounds.ts minSafeAccBits: no input in range can overflow an accumulator this wide */
  readonly minSafeBits: number;
}

export interface QExecResult {
  readonly outputs: Record<string, Tensor>;
  /** linear layer name → its overflow report, in execution order */
  readonly overflow: Record<string, OverflowReport>;
  readonly accumulators: Record<string, LayerAccumulator>;
  /**
   * layers on number formats (QLinearLayer.format) → their float accumulator's swamping report
   * (sim/kernels/fp-dot.ts: adds whose nonzero addend was lost), in execution order
   */
  readonly swamping: Record<string, SwampReport>;
  /** with QExecOptions.zeros: conv / 2-D gemm name → its zero counts over the run's samples */
  readonly zeros?: Record<string, LinearZeroCounts>;
  /** with QExecOptions.compression: integer tensor name → raw and compressed bits over the run's samples */
  readonly compressed?: Record<string, { rawBits: number; compressedBits: number }>;
}
