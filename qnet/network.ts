/**
 * The QuantizedNetwork noun (DESIGN.md): integer weights, int32 bias, scales and zero points,
 * activations, in a form the functional executor and the simulator run directly.
 *
 * It stores *quantization parameters*, not requantization constants: the float multiplier
 * M = s_x·s_w[c]/s_y and the fixed-point (M0, shift) are derived in one place (qnet/requant.ts)
 * for the requant mode a run asks for, so one QuantizedNetwork runs under `--requant float` and
 * `--requant fixed` alike. Layers are JSON-friendly objects with typed arrays; numbers are exact
 * integers wherever they are integer data.
 *
 * sim/ may import this file with `import type` only (DESIGN.md's dependency direction).
 */
import type { LayerNormAlgorithm, SoftmaxAlgorithm } from '../arch/sfu.js';
import type { Node, Tensor } from '../nets/graph.js';
import type { LogQuant } from './logquant.js';

/** Affine quantization of one tensor: real = scale·(q − zeroPoint). */
export interface QParams {
  /** float32 scales: length 1 (per-tensor) or the size of `axis` (per-channel) */
  readonly scale: Float32Array;
  /** same length as `scale` */
  readonly zeroPoint: Int32Array;
  /** channel axis when per-channel (weights: 0 = output channel); -1 when per-tensor */
  readonly axis: number;
  /** 2…16 */
  readonly bits: number;
  readonly signed: boolean;
  /** restricted (narrow) range: signed values in ±(2^(bits−1)−1), unsigned in 0…2^bits−2 */
  readonly narrow: boolean;
}

/**
 * An activation tensor stored in a number format other than affine integers (qnet/formats): a
 * float element format with one per-tensor scale (real = scale · value(code)), or an MX block
 * format (blocks of 32 along axis 1 — the channels — each with its E8M0 scale, set from the block
 * itself as MX v1.0 §6.3 says, so nothing is calibrated). The executor holds such a tensor as the
 * float32 values its codes stand for; `format` names come from qnet/formats (`FloatFormat.name`,
 * `MxFormat.name`).
 */
export type ActFormat =
  | { readonly kind: 'float'; readonly element: string; readonly scale: number }
  | { readonly kind: 'mx'; readonly mx: string };

/**
 * Weights in a number format other than affine integers; `QWeight.data` then holds the codes
 * (float codes, MX bytes, per-group integers). K is the weight's reduction axis in ONNX order
 * (conv: I·kh·kw per output channel; gemm: K); blocks and groups run along it.
 */
export type WeightFormat =
  /** per-output-channel (or one) float32 scale: real = scale[c] · value(code) */
  | { readonly kind: 'float'; readonly element: string; readonly scale: Float32Array }
  /** E8M0 scales [N, ⌈K/32⌉] */
  | { readonly kind: 'mx'; readonly mx: string; readonly scales: Uint8Array }
  /** symmetric signed `bits`-bit integers, one float32 scale per group of `groupSize` along K: [N, ⌈K/g⌉] */
  | { readonly kind: 'group'; readonly bits: number; readonly groupSize: number; readonly scale: Float32Array };

/** The accumulator of a format layer: FP32 / FP16 / BF16 for float and MX operands; per-group integer layers sum each group in int32 and add it, scaled, into FP32. */
export type AccFormat = 'fp32' | 'fp16' | 'bf16';

/**
 * How a conv/gemm layer with a weight `format` computes: its input operand's format (null: the
 * affine integer input of `q`, as per-group weights take it), the accumulator, and the float bias
 * (added at load, in the accumulator's units: bias / (s_x·s_w[c]) for float operands, real for MX
 * and per-group, whose scales are applied per block). The output is real = acc · s_x·s_w[c]
 * (float operands) or acc, then `act`, then encoded into the output tensor's format (or quantized
 * to its affine integers).
 */
export interface LinearFormat {
  readonly input: ActFormat | null;
  readonly acc: AccFormat;
  readonly bias: Float32Array | null;
  /** the fused activation on real values (clamp bounds, or a LUT function evaluated exactly) */
  readonly act: { readonly kind: 'none' } | { readonly kind: 'clamp'; readonly min: number; readonly max: number } | { readonly kind: 'fn'; readonly fn: LutFunction };
}

/** An integer activation tensor between layers. */
export interface QTensorInfo {
  readonly name: string;
  /** -1 for a dynamic batch */
  readonly shape: readonly number[];
  /** with `format`: bits = the format's element bits (what storage and traffic are costed at) */
  readonly q: QParams;
  /** absent: affine integers (`q`) */
  readonly format?: ActFormat;
  /** log-coded probabilities (qnet/logquant.ts; `q` then gives bits for costing); absent: affine */
  readonly log?: LogQuant;
}

/** Integer weights in ONNX layout (Conv OIHW; Gemm [N=out, K=in]). */
export interface QWeight {
  readonly data: Int32Array;
  readonly shape: readonly number[];
  /** per-tensor or per-output-channel (axis 0); with `format`: bits = its element bits */
  readonly q: QParams;
  /** absent: affine integers (`q`) */
  readonly format?: WeightFormat;
}

export type LutFunction = 'sigmoid' | 'hardsigmoid' | 'hardswish' | 'swish' | 'tanh' | 'gelu' | 'gelu_tanh';

/**
 * The activation applied in the requant unit after requantization (fused), or as its own layer.
 * `clamp` bounds are integers of the output quantization (ReLU: [z_y, qmax]; ReLU6: [z_y,
 * min(qmax, round(6/s_y)+z_y)]); `channelHi`, when present, gives each channel along axis 1 its
 * own upper bound (CLE through ReLU6: channel i clipped at 6/s_i; `hi` is then their maximum) —
 * parameters a requant unit must store per output channel (arch requant.perChannelClamp). `lut` maps each code of an intermediate quantization `inQ` to
 * an output code; `entries` < 2^inQ.bits means a coarser table indexed by the top bits.
 */
export type QActivation =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'clamp';
      readonly fn: 'relu' | 'relu6' | 'clip';
      readonly lo: number;
      readonly hi: number;
      readonly channelHi?: Int32Array;
      /** the bounds on real values, for a layer whose tensors are in a float / MX format */
      readonly real?: { readonly min: number; readonly max: number };
    }
  | { readonly kind: 'lut'; readonly fn: LutFunction; readonly inQ: QParams; readonly entries: number; readonly table: Int32Array }
  /**
   * I-BERT's integer GELU (qnet/igelu.ts): the requant stage targets `inQ`, the integer erf
   * polynomial runs on those codes and its result is rescaled to `outQ` (the layer output's
   * parameters) by a fixed-point multiplier.
   */
  | { readonly kind: 'igelu'; readonly inQ: QParams; readonly outQ: QParams };

interface QLayerBase {
  readonly name: string;
  readonly inputs: readonly string[];
  readonly output: string;
  /** bits of the accumulator for this layer when it overrides the run's (mixed precision) */
  readonly accBits?: number;
}

/** The 2-D window of a conv or pool (ONNX attributes). */
export interface QWindow {
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  /** top, left, bottom, right */
  readonly pads: readonly [number, number, number, number];
  readonly dilations: readonly [number, number];
}

/** Conv or Gemm: acc = bias + Σ (q_w − z_w)(q_x − z_x); y = act(requant(acc)). The window: conv geometry (gemm: unused). */
export interface QLinearLayer extends QLayerBase, QWindow {
  readonly kind: 'conv' | 'gemm';
  readonly weight: QWeight;
  /** int32, scale s_x·s_w[c], zero point 0; null when the layer has none */
  readonly bias: Int32Array | null;
  readonly group: number;
  readonly activation: QActivation;
  /** a layer on number formats (weight.format set): how it computes; absent = the integer layer */
  readonly format?: LinearFormat;
}

/** Elementwise Add of two differently quantized inputs (QLinearAdd), fused activation. */
export interface QAddLayer extends QLayerBase {
  readonly kind: 'add';
  readonly activation: QActivation;
}

/** Concat along an axis; inputs requantized to the output's parameters unless they share them. */
export interface QConcatLayer extends QLayerBase {
  readonly kind: 'concat';
  readonly axis: number;
}

export interface QPoolLayer extends QLayerBase, QWindow {
  readonly kind: 'maxpool' | 'avgpool' | 'globalavgpool';
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
}

/** A standalone activation on integers (QLinearSigmoid, unfused LUT activations). */
export interface QActivationLayer extends QLayerBase {
  readonly kind: 'activation';
  readonly activation: QActivation;
}

/** Pure data movement on integer tensors. */
export interface QLayoutLayer extends QLayerBase {
  readonly kind: 'reshape' | 'flatten' | 'transpose' | 'identity' | 'resize';
  /** Reshape target (ONNX 0 / −1 conventions), Flatten axis as [axis], Transpose perm, Resize's integer factors per axis (nearest: output y reads input ⌊y/f⌋) */
  readonly param: readonly number[];
}

/**
 * Activation × activation MatMul (Q·Kᵀ, P·V): inputs [A, B] with ONNX MatMul layout A [..., M, K],
 * B [..., K, N], leading (head) dims broadcast; both operands integer tensors with their own
 * per-tensor scale and zero point. acc = Σ_k (a − z_a)(b − z_b) on the run's accumulator in the
 * dataflow's order, B being the stationary operand (the weight side of sim/kernels' gemm);
 * requantized like QLinearMatMul with multiplier s_a·s_b/s_y, then the fused activation.
 */
export interface QMatMulLayer extends QLayerBase {
  readonly kind: 'matmul';
  readonly activation: QActivation;
  /** between number-format tensors: the float accumulator (absent: FP32; integer MatMuls ignore it) */
  readonly formatAcc?: AccFormat;
}

/**
 * Softmax on integer codes (qnet/softmax.ts), over `axis` (non-negative) — or, with `coerce2d`
 * (ONNX opset < 13), over every axis from `axis` on. `variant`: `ort` — com.microsoft
 * QLinearSoftmax's float arithmetic, bit for bit (8-bit only); `ibert` — I-BERT's integer-only
 * i-exp and integer normalization; `lut` — exp from a table of `expLutEntries` entries, integer
 * normalization.
 */
export interface QSoftmaxLayer extends QLayerBase {
  readonly kind: 'softmax';
  readonly axis: number;
  readonly coerce2d: boolean;
  readonly variant: SoftmaxAlgorithm;
  /** `lut` only: entries of the exp table (a power of two ≤ 2^bits of the input) */
  readonly expLutEntries?: number;
}

/**
 * LayerNormalization (ONNX opset 17) over axes axis…rank−1 of an integer tensor (qnet/layernorm.ts):
 * `float` — dequantize, LayerNormalization in float32 as ONNX's function body defines it, quantize;
 * `integer` — I-BERT: integer mean and variance, integer square root by Newton iterations, an
 * integer reciprocal, γ and β folded into per-element fixed-point multipliers and integer offsets.
 */
export interface QLayerNormLayer extends QLayerBase {
  readonly kind: 'layernorm';
  readonly axis: number;
  readonly epsilon: number;
  /** one γ per element of the normalized shape (broadcast Scale written out) */
  readonly gamma: Float32Array;
  /** one β per element of the normalized shape; null = none */
  readonly beta: Float32Array | null;
  readonly variant: LayerNormAlgorithm;
}

/** Float tensor → integer (QuantizeLinear). */
export interface QQuantizeLayer extends QLayerBase {
  readonly kind: 'quantize';
}

/** Integer → float tensor (DequantizeLinear). */
export interface QDequantizeLayer extends QLayerBase {
  readonly kind: 'dequantize';
}

/** An op left in float between a dequantize and a quantize (e.g. Softmax on the logits). */
export interface QFloatLayer extends QLayerBase {
  readonly kind: 'float';
  readonly node: Node;
}

export type QLayer =
  | QLinearLayer
  | QAddLayer
  | QConcatLayer
  | QPoolLayer
  | QActivationLayer
  | QMatMulLayer
  | QSoftmaxLayer
  | QLayerNormLayer
  | QLayoutLayer
  | QQuantizeLayer
  | QDequantizeLayer
  | QFloatLayer;

export interface QuantizedNetwork {
  readonly name: string;
  /** graph inputs; float32 ones pass through a 'quantize' layer, integer ones are fed as is */
  readonly inputs: readonly { readonly name: string; readonly dtype: 'float32' | 'int8' | 'uint8' | 'int32'; readonly shape: readonly number[] }[];
  readonly outputs: readonly { readonly name: string; readonly dtype: 'float32' | 'int8' | 'uint8' | 'int32'; readonly shape: readonly number[] }[];
  /** quantization of every integer tensor, by name */
  readonly tensors: ReadonlyMap<string, QTensorInfo>;
  /** topologically sorted */
  readonly layers: readonly QLayer[];
  /** float constants a 'float' layer reads (by name) */
  readonly floatConstants?: ReadonlyMap<string, Tensor>;
  readonly meta?: Readonly<Record<string, string>>;
}
