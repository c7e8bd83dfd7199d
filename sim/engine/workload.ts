/**
 * What the engine runs: a list of layers, each either GEMM work on the PE array (a GemmView),
 * element work on the requant/activation unit ("vector"), or free (layout only). A layer carries
 * the byte sizes of everything it moves and the bit widths it is costed at, so the engine never
 * needs the weights themselves — timing-only runs (a SCALE-Sim topology) and functional runs (a
 * QuantizedNetwork) share it.
 *
 * Element and float layers:
 * - add / pool / concat / standalone activation / quantize / dequantize run on the requant unit
 *   as vector work: `vectorElements` elements at `lanesPerCycle`, with their input and output
 *   bytes moved through DMA.
 * - `float` layers (an op left in float between dequantize and quantize, e.g. Softmax): their
 *   bytes are moved and counted but no array or requant work is modelled (vectorElements = 0) —
 *   the accelerator hands them to a host; the host's time is not simulated.
 * - layout layers (reshape, flatten, transpose, identity) are free: a view change, no bytes.
 */
import type { ArchSpec } from '../../arch/spec.js';
import { ModelError } from '../../nets/errors.js';
import type { QLayer, QLinearLayer, QuantizedNetwork } from '../../qnet/network.js';
import { gemmViewOfConv, gemmViewOfGemm, type GemmView } from '../timing/gemm-view.js';
import { actElementBits, actStorageBits, weightScaleBits } from '../../qnet/formats/descriptor.js';
import { channelGroups, isSplit } from '../../qnet/split.js';
import type { BitsClass } from '../result.js';
import type { SfuWork } from './sfu-cost.js';

export type WorkloadActivation =
  | { readonly kind: 'none' }
  /** ReLU / ReLU6 / clip: a clamp in the requant unit (or a separate pass when not fused) */
  | { readonly kind: 'clamp'; readonly fn: string; readonly fused: boolean }
  /** sigmoid-like: a lookup table of `entries` (fused) or int32 written out and read back */
  | { readonly kind: 'lut'; readonly fn: string; readonly fused: boolean; readonly entries: number };

/** `merge`: a conv on a split input (qnet/split.ts) — each further channel group's accumulators rescaled and added */
export type VectorOp = 'add' | 'pool' | 'concat' | 'resize' | 'activation' | 'quantize' | 'dequantize' | 'float' | 'sfu' | 'merge';

export interface WorkloadLayer {
  readonly name: string;
  readonly kind: 'gemm' | 'vector' | 'free';
  /** gemm layers: the GEMM view (per group); null otherwise */
  readonly view: GemmView | null;
  /** vector layers: what the element work is */
  readonly vectorOp: VectorOp | null;
  /** vector layers: elements the requant unit processes (0 = bytes only) */
  readonly vectorElements: number;
  readonly weightBits: number;
  /** input activation width */
  readonly activationBits: number;
  /** output width after requant */
  readonly outputBits: number;
  /** accumulator width of this layer */
  readonly accBits: number;
  readonly weightBytes: number;
  /** unique ifmap bytes (all inputs of the layer) */
  readonly ifmapBytes: number;
  readonly ofmapBytes: number;
  readonly biasBytes: number;
  readonly requantParamBytes: number;
  /** per-output-channel requant parameters (and weight scales) */
  readonly perChannel: boolean;
  readonly activation: WorkloadActivation;
  /** the data-dependent zero-point term z_w·Σq_x is accumulated (asymmetric weights, raw PE form) */
  readonly zeroPointTerm: boolean;
  /**
   * bits of the weight zero point stored with each requant parameter set (asymmetric weights: z_w
   * per channel or per tensor, at the weight width); 0 or absent for symmetric weights. Included
   * in requantParamBytes.
   */
  readonly weightZeroPointBits?: number;
  /**
   * bits of the per-channel clamp bound stored with each requant parameter set (a ReLU6 equalized
   * with cleRelu6 'clip': channel i's upper bound, an output code at the output width); 0 or absent
   * without per-channel bounds. A layer with them runs in the unit's per-channel mode — one set
   * (M0, shift[, z_w], bound) per output channel, M0 and shift repeated when the weights are per
   * tensor — so `perChannel` is true and the sets are in requantParamBytes. The compare itself
   * is the clamp's, counted with or without per-channel bounds: the bounds add parameter traffic only.
   */
  readonly clampBoundBits?: number;
  /** a conv / gemm of affine integers on an array whose PEs multiply a number format: it runs on their integer datapath (operands.alsoInt) */
  readonly intDatapath?: true;
  /** index of the layer in the QuantizedNetwork it came from */
  readonly qlayerIndex?: number;
  /**
   * Softmax / LayerNorm / i-GELU: the rows the special-function unit works on (sfu-cost.ts). On an
   * arch without an SFU the layer is host work instead: its input out at 32 bits and its result
   * back at 32 bits (ifmapBytes, ofmapBytes), no element work on the accelerator.
   */
  readonly sfu?: SfuWork;
  /**
   * The classes the layer's operands are counted under when not the usual ones (inputs, weights,
   * outputs): an activation × activation GEMM (Q·Kᵀ, P·V) counts its stationary operand (Kᵀ, V)
   * as `inputs` — data loaded per inference and per head, not a parameter — and attention scores
   * and probabilities as `attention` (sim/result.ts). Present on activation × activation GEMMs.
   */
  readonly operandClasses?: Partial<Record<'inputs' | 'weights' | 'outputs', BitsClass>>;
  /**
   * The streamed operand is log-coded (P of P·V, qnet/logquant.ts): each product is a shift of the
   * stationary operand in the PE's shift mode, and each output adds the odd-code sum times √2 once
   * (plan.ts counts them). Timing is a MAC's.
   */
  readonly shiftInputs?: true;
  /**
   * The network tensors the layer reads (with each one's bytes as the layer counts them) and writes
   * — on the first workload layer of a network layer the inputs, on its last the output; absent on
   * topology rows, whose connections are not known. What on-chip boundaries are found from.
   */
  readonly tensors?: { readonly inputs?: readonly string[]; readonly inputBytes?: readonly number[]; readonly output?: string };
  /**
   * Bytes of the layer's inputs read in place from the unified buffer, where the layer before left
   * them (sim/engine/on-chip.ts): not fetched from DRAM, and held in the buffer while it runs.
   */
  readonly ifmapOnChipBytes?: number;
  /**
   * The output stays in the unified buffer for the next layer: `kept` (never written to DRAM) or
   * `kept-and-written` (also written: a later layer or the host reads it too).
   */
  readonly ofmapOnChip?: 'kept' | 'kept-and-written';
  /**
   * Buffer bytes the layer's on-chip tensors hold while it runs, where that is not the tensors
   * themselves: a boundary fused as a band of rows (arch `memories.fusion: bands`) holds a line
   * buffer and the fused partner's weights instead (sim/engine/on-chip.ts). Absent: the kept input
   * and output bytes.
   */
  readonly onChipReserveBytes?: number;
  /**
   * A zero-skipping array (arch pe.zeroSkipping): the share of the streamed activation vectors that
   * are all zero on the data (sim/kernels/zeros.ts `zeroVectors`, over every sample). Each fold's
   * stream (WS: its M rows, OS: its K steps) is shortened by that share, rounded down — spread
   * evenly over the folds; which folds the zeros fall in is not modelled. Set by the functional run.
   */
  readonly skipFraction?: number;
}

export interface Workload {
  readonly name: string;
  readonly layers: readonly WorkloadLayer[];
  /** the network's output tensors (read by the host: always written to DRAM) */
  readonly outputs?: readonly string[];
  /** the seed of whatever randomness produced the run's inputs (reported, not used by timing) */
  readonly seed?: number;
}

/** bits of one channel's requant parameters: M0 (multiplierBits) + an 8-bit shift */
export function requantParamBitsPerChannel(spec: ArchSpec): number {
  return spec.requant.multiplierBits + 8;
}

const bytesOf = (elements: number, bits: number): number => Math.ceil((elements * bits) / 8);

/** unique ifmap elements a view reads (its real input feature map, not the im2col copy) */
function ifmapElements(v: GemmView): number {
  const c = v.conv;
  return c ? c.ifmapH * c.ifmapW * c.channels : v.M * v.K * v.groups;
}

/**
 * Timing-only workload from GEMM views (a SCALE-Sim topology): operands at the arch's widths,
 * outputs at the activation width, no activation, no zero-point term, int32 bias and the arch's
 * requant parameters (per channel when the arch supports it).
 */
export function workloadFromViews(views: readonly GemmView[], spec: ArchSpec, name = 'topology'): Workload {
  const wb = spec.operands.weightBits;
  const ab = spec.operands.activationBits;
  const pb = requantParamBitsPerChannel(spec);
  const layers = views.map((v): WorkloadLayer => {
    const channels = v.N * v.groups;
    return {
      name: v.name,
      kind: 'gemm',
      view: v,
      vectorOp: null,
      vectorElements: 0,
      weightBits: wb,
      activationBits: ab,
      outputBits: ab,
      accBits: spec.accumulator.bits,
      weightBytes: bytesOf(v.groups * v.K * v.N, wb),
      ifmapBytes: bytesOf(ifmapElements(v), ab),
      ofmapBytes: bytesOf(v.groups * v.M * v.N, ab),
      biasBytes: channels * 4,
      requantParamBytes: bytesOf(spec.requant.perChannel ? channels : 1, pb),
      perChannel: spec.requant.perChannel,
      activation: { kind: 'none' },
      zeroPointTerm: false,
    };
  });
  return { name, layers };
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function outSize(x: number, k: number, s: number, p0: number, p1: number, d: number, ceil = false): number {
  const span = x + p0 + p1 - d * (k - 1) - 1;
  return (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
}

/**
 * Workload of a QuantizedNetwork for one input of `inputShape` (batch 1: the engine simulates one
 * inference; run it once per sample). Conv and Gemm become GEMM views at the network's own bit
 * widths; add / pool / concat / activation / quantize / dequantize become vector work on the
 * requant unit; float layers move bytes only; layout layers are free.
 */
export function workloadFromQuantizedNetwork(net: QuantizedNetwork, inputShape: readonly number[], spec: ArchSpec): Workload {
  if (inputShape[0] !== 1) throw new ModelError([{ node: net.inputs[0]?.name ?? '', message: `the engine simulates one inference at a time: input batch must be 1, got shape [${inputShape.join(',')}]` }]);
  const shapes = new Map<string, readonly number[]>();
  // the first input takes the run's shape; further inputs (attention cores: q, kᵀ, v) their own, batch 1
  net.inputs.forEach((i, k) => shapes.set(i.name, k === 0 && i.shape.length === inputShape.length ? inputShape : i.shape.map((d) => (d < 0 ? 1 : d))));
  // float constants a float layer reads (a Mul by a learned per-channel scale, as PP-OCR's MobileOne blocks have)
  for (const [n, t] of net.floatConstants ?? []) shapes.set(n, t.shape);
  const bitsOf = (tensor: string, fallback: number): number => net.tensors.get(tensor)?.q.bits ?? fallback;
  /**
   * bits of the block scales a tensor in an MX format carries besides its elements (8 per 32);
   * a conv / gemm moves them with its parameters (requantParamBytes), so every count stays whole
   */
  const scaleBitsOf = (tensor: string, elements: number): number => {
    const f = net.tensors.get(tensor)?.format;
    return f ? Math.ceil(elements * (actStorageBits(f) - actElementBits(f))) : 0;
  };
  const pb = requantParamBitsPerChannel(spec);
  const layers: WorkloadLayer[] = [];
  const attention = attentionTensors(net);
  /**
   * A Softmax / LayerNorm / i-GELU layer: on the SFU when the arch has one, else host work — its
   * input out at 32 bits and its result back at 32 bits, nothing computed on the accelerator
   */
  const sfuLayer = (
    common: Pick<WorkloadLayer, 'name' | 'activationBits' | 'outputBits' | 'accBits' | 'qlayerIndex'>,
    op: SfuWork['op'],
    rows: number,
    rowLength: number,
    inputBits: number,
    outputBits: number,
    paramBytes: number,
    scores = false,
  ): WorkloadLayer => {
    const E = rows * rowLength;
    const host = spec.sfu === null;
    return {
      ...common,
      kind: 'vector',
      view: null,
      vectorOp: 'sfu',
      vectorElements: host ? 0 : E,
      weightBits: 0,
      weightBytes: 0,
      ifmapBytes: bytesOf(E, host ? 32 : inputBits),
      ofmapBytes: bytesOf(E, host ? 32 : outputBits),
      biasBytes: 0,
      requantParamBytes: host ? 0 : paramBytes,
      perChannel: false,
      activation: { kind: 'none' },
      zeroPointTerm: false,
      sfu: { op, rows, rowLength, inputBits, outputBits },
      ...(scores && { operandClasses: { inputs: 'attention', outputs: 'attention' } }),
    };
  };
  net.layers.forEach((layer, index) => {
    const ins = layer.inputs.map((n) => shapes.get(n));
    const x = ins[0];
    if (!x) throw new ModelError([{ node: layer.name, op: layer.kind, message: `the shape of input '${layer.inputs[0]}' is unknown` }]);
    const out = outputShape(layer, ins as (readonly number[])[], net);
    shapes.set(layer.output, out);
    const inBits = bitsOf(layer.inputs[0], 32);
    const outBits = bitsOf(layer.output, 32);
    const common = {
      name: layer.name,
      activationBits: inBits,
      outputBits: outBits,
      accBits: ('accBits' in layer && layer.accBits) || spec.accumulator.bits,
      qlayerIndex: index,
    };
    if (layer.kind === 'conv' || layer.kind === 'gemm') {
      const l: QLinearLayer = layer;
      const w = l.weight;
      const cout = w.shape[0];
      let view: GemmView;
      if (l.kind === 'conv') {
        view = gemmViewOfConv(l.name, {
          ifmapH: x[2],
          ifmapW: x[3],
          filterH: l.kernel[0],
          filterW: l.kernel[1],
          channels: x[1],
          numFilters: cout,
          strideH: l.strides[0],
          strideW: l.strides[1],
          padTop: l.pads[0],
          padLeft: l.pads[1],
          padBottom: l.pads[2],
          padRight: l.pads[3],
          dilationH: l.dilations[0],
          dilationW: l.dilations[1],
          group: l.group,
        });
      } else view = gemmViewOfGemm(l.name, numel(x) / x[x.length - 1], w.shape[1], cout);
      const clampBoundBits = l.activation.kind === 'clamp' && l.activation.channelHi ? outBits : 0;
      const xq = net.tensors.get(l.inputs[0])?.q;
      // a split input's further groups: one rescale multiplier (M0 and shift) each, per layer
      const extraGroups = xq && isSplit(xq) ? channelGroups(xq).length - 1 : 0;
      const perChannel = w.q.scale.length > 1 || clampBoundBits > 0;
      let zp = false;
      for (let i = 0; i < w.q.zeroPoint.length; i++) if (w.q.zeroPoint[i] !== 0) zp = true;
      layers.push({
        ...common,
        kind: 'gemm',
        view,
        vectorOp: null,
        vectorElements: 0,
        weightBits: w.q.bits,
        weightBytes: bytesOf(w.data.length, w.q.bits),
        ifmapBytes: bytesOf(numel(x), inBits),
        ofmapBytes: bytesOf(numel(out), outBits),
        // a number-format layer keeps its FP32 bias in its LinearFormat (l.bias is null there)
        biasBytes: 4 * (l.bias ?? l.format?.bias ?? []).length,
        // per set: M0 and shift, z_w when the weights are asymmetric, the clamp bound when it is per channel
        // number formats: the weight scales (per channel / group / MX block) and the MX block scales
        // of the input and output move with the parameters
        requantParamBytes:
          bytesOf(perChannel ? cout : 1, pb + (zp ? w.q.bits : 0) + clampBoundBits) +
          bytesOf(extraGroups, pb) +
          (w.format ? Math.ceil((weightScaleBits(w.format, w.data.length, cout) + scaleBitsOf(layer.inputs[0], numel(x)) + scaleBitsOf(layer.output, numel(out))) / 8) : 0),
        perChannel,
        activation: activationOf(l.activation, spec),
        zeroPointTerm: zp && spec.pe.form === 'raw',
        weightZeroPointBits: zp ? w.q.bits : 0,
        clampBoundBits,
        ...(!w.format && (spec.operands.format ?? 'int') !== 'int' && { intDatapath: true as const }),
      });
      if (extraGroups > 0) {
        // on the requant unit before the layer's requant: a multiply and an add per output and further group
        // (the partial accumulators' drain out of the array is not modelled)
        layers.push({
          ...followOn(common, `${l.name}/merge`),
          kind: 'vector',
          view: null,
          vectorOp: 'merge',
          vectorElements: extraGroups * numel(out),
          weightBits: 0,
          weightBytes: 0,
          ifmapBytes: 0,
          ofmapBytes: 0,
          biasBytes: 0,
          requantParamBytes: 0,
          perChannel: false,
          activation: { kind: 'none' },
          zeroPointTerm: false,
        });
      }
      if (l.activation.kind === 'igelu') layers.push(sfuLayer(followOn(common, `${l.name}/igelu`), 'igelu', 1, numel(out), outBits, outBits, 0));
      return;
    }
    if (layer.kind === 'matmul') {
      const a = x;
      const b = ins[1];
      if (!b) throw new ModelError([{ node: layer.name, op: layer.kind, message: `the shape of input '${layer.inputs[1]}' is unknown` }]);
      const [M, K] = a.length >= 2 ? a.slice(-2) : [1, a[0]];
      const N = b.length >= 2 ? b[b.length - 1] : 1;
      const heads = numel(out) / (M * N);
      const bBits = bitsOf(layer.inputs[1], 32);
      const zb = net.tensors.get(layer.inputs[1])?.q.zeroPoint[0] ?? 0;
      const igelu = layer.activation.kind === 'igelu';
      layers.push({
        ...common,
        kind: 'gemm',
        // one GEMM per head, the stationary operand (Kᵀ or V) loaded into the array for each
        view: { ...gemmViewOfGemm(layer.name, M, K, N), groups: heads },
        vectorOp: null,
        vectorElements: 0,
        weightBits: bBits,
        weightBytes: bytesOf(heads * K * N, bBits),
        ifmapBytes: bytesOf(heads * M * K, inBits),
        ofmapBytes: bytesOf(numel(out), outBits),
        biasBytes: 0,
        requantParamBytes: bytesOf(1, pb),
        perChannel: false,
        activation: igelu ? { kind: 'none' } : activationOf(layer.activation, spec),
        // Σ_k a is data-dependent as for any layer; so is Σ_k b (z_a·Σb), computed as B loads: not modelled
        zeroPointTerm: zb !== 0 && spec.pe.form === 'raw',
        weightZeroPointBits: 0,
        operandClasses: {
          weights: 'inputs',
          inputs: attention(layer.inputs[0], 'producer') ? 'attention' : 'inputs',
          outputs: attention(layer.output, 'consumer') ? 'attention' : 'outputs',
        },
        ...(net.tensors.get(layer.inputs[0])?.log && { shiftInputs: true as const }),
      });
      if (igelu) layers.push(sfuLayer(followOn(common, `${layer.name}/igelu`), 'igelu', 1, numel(out), outBits, outBits, 0));
      return;
    }
    if (layer.kind === 'softmax' || layer.kind === 'layernorm') {
      const axis = layer.axis < 0 ? layer.axis + x.length : layer.axis;
      // softmax (opset 13) normalizes one axis; coerced softmax (opset < 13) and LayerNorm every axis from `axis` on
      const L = layer.kind === 'softmax' && !layer.coerce2d ? x[axis] : numel(x.slice(axis));
      // an output quantized per channel (unfolded per-channel post-LN): a multiplier and zero point per channel
      const yq = net.tensors.get(layer.output)?.q;
      const perChannelOut = yq && yq.scale.length > 1 ? bytesOf(yq.scale.length, pb + yq.bits) : 0;
      const params = layer.kind === 'layernorm' ? (layer.gamma.length + (layer.beta?.length ?? 0)) * 4 + perChannelOut : 0;
      layers.push(sfuLayer(common, layer.kind, numel(x) / L, L, inBits, outBits, params, layer.kind === 'softmax'));
      return;
    }
    if (layer.kind === 'activation' && layer.activation.kind === 'igelu') {
      layers.push(sfuLayer(common, 'igelu', 1, numel(x), inBits, outBits, 0));
      return;
    }
    const free = layer.kind === 'reshape' || layer.kind === 'flatten' || layer.kind === 'transpose' || layer.kind === 'identity';
    const inElements = ins.reduce((s, sh) => s + (sh ? numel(sh) : 0), 0);
    let ifmapBytes = 0;
    layer.inputs.forEach((n, i) => {
      const sh = ins[i];
      if (sh) ifmapBytes += bytesOf(numel(sh), bitsOf(n, 32));
    });
    const vectorOp: VectorOp | null = free
      ? null
      : layer.kind === 'maxpool' || layer.kind === 'avgpool' || layer.kind === 'globalavgpool'
        ? 'pool'
        : (layer.kind as VectorOp);
    layers.push({
      ...common,
      kind: free ? 'free' : 'vector',
      view: null,
      vectorOp,
      // pools read every input once; element ops produce one result per output element
      vectorElements: free || layer.kind === 'float' ? 0 : layer.kind === 'add' ? numel(out) : Math.max(inElements, numel(out)),
      weightBits: 0,
      weightBytes: 0,
      ifmapBytes: free ? 0 : ifmapBytes,
      ofmapBytes: free ? 0 : bytesOf(numel(out), outBits),
      biasBytes: 0,
      requantParamBytes: 0,
      perChannel: false,
      activation: 'activation' in layer ? activationOf(layer.activation, spec) : { kind: 'none' },
      zeroPointTerm: false,
    });
  });
  return { name: net.name, layers: withTensors(layers, net, shapes, bitsOf), outputs: net.outputs.map((o) => o.name) };
}

/**
 * Each network layer's tensors on its workload layers (WorkloadLayer `tensors`): the inputs (and
 * their bytes) on the first, the output on the last — follow-on layers (a split input's merge, an
 * i-GELU on the SFU) sit between and carry neither.
 */
function withTensors(layers: WorkloadLayer[], net: QuantizedNetwork, shapes: ReadonlyMap<string, readonly number[]>, bitsOf: (tensor: string, fallback: number) => number): WorkloadLayer[] {
  const out = layers.slice();
  for (let i = 0; i < out.length; i++) {
    const qi = out[i].qlayerIndex;
    if (qi === undefined) continue;
    const q = net.layers[qi];
    let last = i;
    while (last + 1 < out.length && out[last + 1].qlayerIndex === undefined) last++;
    const inputBytes = q.inputs.map((n) => {
      const sh = shapes.get(n);
      return sh ? bytesOf(numel(sh), bitsOf(n, 32)) : 0;
    });
    out[i] = { ...out[i], tensors: { inputs: q.inputs, inputBytes, ...(last === i && { output: q.output }) } };
    if (last > i) out[last] = { ...out[last], tensors: { output: q.output } };
  }
  return out;
}

/**
 * Which tensors are attention scores or probabilities: a Softmax's input when a MatMul produced it
 * (Q·Kᵀ) and its output when a MatMul consumes it (P·V) — looking through layout layers. Returns
 * `is(tensor, side)`: `producer` asks whether the tensor comes from such a Softmax, `consumer`
 * whether it goes into one.
 */
function attentionTensors(net: QuantizedNetwork): (tensor: string, side: 'producer' | 'consumer') => boolean {
  const layout = new Set(['reshape', 'flatten', 'transpose', 'identity']);
  const producer = new Map<string, QLayer>();
  const consumers = new Map<string, QLayer[]>();
  for (const l of net.layers) {
    producer.set(l.output, l);
    for (const i of l.inputs) consumers.set(i, [...(consumers.get(i) ?? []), l]);
  }
  const fromSoftmax = (t: string): boolean => {
    for (let p = producer.get(t); p; p = producer.get(p.inputs[0])) {
      if (p.kind === 'softmax') return true;
      if (!layout.has(p.kind)) return false;
    }
    return false;
  };
  const intoSoftmax = (t: string, depth = 0): boolean =>
    depth < 16 && (consumers.get(t) ?? []).some((c) => c.kind === 'softmax' || (layout.has(c.kind) && intoSoftmax(c.output, depth + 1)));
  return (t, side) => (side === 'producer' ? fromSoftmax(t) : intoSoftmax(t));
}

/**
 * A workload layer that follows a network layer's own (its i-GELU on the SFU): named apart, and
 * without the network layer's index — the functional run computes the whole layer at the first.
 */
function followOn<T extends { readonly qlayerIndex?: number }>(common: T, name: string): Omit<T, 'qlayerIndex'> & { name: string } {
  const { qlayerIndex: _, ...rest } = common;
  return { ...rest, name };
}

function activationOf(a: QLinearLayer['activation'], spec: ArchSpec): WorkloadActivation {
  if (a.kind === 'none' || a.kind === 'igelu') return { kind: 'none' };
  const fused = (spec.requant.fused as readonly string[]).includes(a.fn);
  if (a.kind === 'clamp') return { kind: 'clamp', fn: a.fn, fused };
  return { kind: 'lut', fn: a.fn, fused, entries: Math.min(a.entries, spec.requant.lutEntries) };
}

function outputShape(layer: QLayer, ins: readonly (readonly number[])[], net: QuantizedNetwork): readonly number[] {
  const x = ins[0];
  const known = net.tensors.get(layer.output)?.shape;
  const fromTensor = (): readonly number[] | undefined =>
    known && known.length > 0 && known.slice(1).every((d) => d >= 0) ? [x[0], ...known.slice(1)] : undefined;
  switch (layer.kind) {
    case 'conv': {
      const oh = outSize(x[2], layer.kernel[0], layer.strides[0], layer.pads[0], layer.pads[2], layer.dilations[0]);
      const ow = outSize(x[3], layer.kernel[1], layer.strides[1], layer.pads[1], layer.pads[3], layer.dilations[1]);
      return [x[0], layer.weight.shape[0], oh, ow];
    }
    case 'gemm':
      return [...x.slice(0, -1), layer.weight.shape[0]];
    case 'maxpool':
    case 'avgpool': {
      const oh = outSize(x[2], layer.kernel[0], layer.strides[0], layer.pads[0], layer.pads[2], layer.dilations[0], layer.ceilMode);
      const ow = outSize(x[3], layer.kernel[1], layer.strides[1], layer.pads[1], layer.pads[3], layer.dilations[1], layer.ceilMode);
      return [x[0], x[1], oh, ow];
    }
    case 'globalavgpool':
      return [x[0], x[1], ...x.slice(2).map(() => 1)];
    case 'concat': {
      const axis = layer.axis < 0 ? layer.axis + x.length : layer.axis;
      const s = [...x];
      s[axis] = ins.reduce((sum, sh) => sum + sh[axis], 0);
      return s;
    }
    case 'add':
      return x.length >= (ins[1]?.length ?? 0) ? x : ins[1];
    case 'matmul': {
      // ONNX MatMul: 1-D operands promoted, leading dims broadcast
      const a = x.length === 1 ? [1, x[0]] : x;
      const b = ins[1].length === 1 ? [ins[1][0], 1] : ins[1];
      const lead: number[] = [];
      const la = a.slice(0, -2);
      const lb = b.slice(0, -2);
      for (let i = 0; i < Math.max(la.length, lb.length); i++) {
        const da = la[la.length - 1 - i] ?? 1;
        const db = lb[lb.length - 1 - i] ?? 1;
        lead.unshift(da === 1 ? db : da);
      }
      return [...lead, ...(x.length === 1 ? [] : [a[a.length - 2]]), ...(ins[1].length === 1 ? [] : [b[b.length - 1]])];
    }
    case 'reshape':
    case 'flatten':
    case 'transpose':
      return fromTensor() ?? layoutShape(layer, x);
    case 'resize':
      return x.map((d, i) => d * layer.param[i]);
    default:
      if (layer.kind === 'float' && ELEMENTWISE.has(layer.node.op)) return broadcastAll(ins);
      return fromTensor() ?? x;
  }
}

const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Where']);

/** numpy broadcast of every input shape (a float element op's output) */
function broadcastAll(ins: readonly (readonly number[])[]): readonly number[] {
  const r = Math.max(...ins.map((s) => s.length));
  const out = new Array<number>(r).fill(1);
  for (const s of ins) for (let i = 0; i < s.length; i++) if (s[i] !== 1) out[r - s.length + i] = s[i];
  return out;
}

function layoutShape(layer: QLayer & { readonly param: readonly number[] }, x: readonly number[]): readonly number[] {
  if (layer.kind === 'transpose') return layer.param.map((p) => x[p]);
  if (layer.kind === 'flatten') {
    const a = layer.param[0] < 0 ? layer.param[0] + x.length : layer.param[0];
    return [numel(x.slice(0, a)), numel(x.slice(a))];
  }
  const total = numel(x);
  const s = layer.param.map((d, i) => (d === 0 ? x[i] : d));
  const known = s.reduce((p, d) => (d > 0 ? p * d : p), 1);
  return s.map((d) => (d < 0 ? total / known : d));
}
