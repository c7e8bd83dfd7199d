/**
 * ONNX import, stage 2b: per-op normalization to graph.ts's single form, one handler per op.
 * Operands that moved between attributes and inputs across opsets become attributes, every ONNX
 * default is written out, auto_pad becomes explicit pads. Attribute values that no executor could
 * run (a stride or dilation below 1, an empty kernel, negative window pads, a group that does not
 * divide the channels) are problems of the node that carries them, all reported at once.
 */
import type { AttrValue, OpType } from '../graph.js';
import { ImportState, scalarOf, type WNode } from './state.js';

/** Typed, opset-aware reading of a raw node's attributes; type mismatches become problems. */
class AttrReader {
  constructor(
    private readonly st: ImportState,
    private readonly n: WNode,
  ) {}
  has(k: string): boolean {
    return k in this.n.attrs;
  }
  private bad(k: string, want: string): void {
    this.st.problem(this.n, `attribute '${k}' should be ${want}`);
  }
  int(k: string, dflt: number): number {
    const v = this.n.attrs[k];
    if (v === undefined) return dflt;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.bad(k, 'an int');
    return dflt;
  }
  /** ONNX float attributes are float32, so a filled-in default is too (1e-5 → 9.99999974e-6). */
  float(k: string, dflt: number): number {
    const v = this.n.attrs[k];
    if (v === undefined) return Math.fround(dflt);
    if (typeof v === 'number') return v;
    this.bad(k, 'a float');
    return dflt;
  }
  ints(k: string): number[] | undefined {
    const v = this.n.attrs[k];
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x))) return [...(v as number[])];
    this.bad(k, 'a list of ints');
    return undefined;
  }
  str(k: string, dflt: string): string {
    const v = this.n.attrs[k];
    if (v === undefined) return dflt;
    if (typeof v === 'string') return v;
    this.bad(k, 'a string');
    return dflt;
  }
}

/** What a handler reads and rewrites: the node's inputs (trailing '' stripped) and new attributes. */
interface Norm {
  readonly st: ImportState;
  readonly n: WNode;
  readonly a: AttrReader;
  inputs: string[];
  attrs: Record<string, AttrValue>;
  op: OpType;
}

type Normalizer = (c: Norm) => void;

/** [min, max] input count per op after normalization (optional trailing inputs stripped). */
const ARITY: Partial<Record<OpType, [number, number]>> = {
  Conv: [2, 3], Gemm: [2, 3], MatMul: [2, 2], BatchNormalization: [5, 5], Concat: [1, Infinity],
  Add: [2, 2], Sub: [2, 2], Mul: [2, 2], Div: [2, 2], Pow: [2, 2], LayerNormalization: [2, 3],
};

/** ops that entered the default domain after opset 9: the first opset that has them */
const SINCE: ReadonlyMap<string, number> = new Map([
  ['HardSwish', 14],
  ['Resize', 10],
  ['LayerNormalization', 17],
]);

/** Rewrites a raw default-domain node into graph.ts form (sets `normal`), or says why it cannot. */
export function normalize(st: ImportState, n: WNode): void {
  const handler = NORMALIZERS.get(n.op);
  if (!handler) {
    n.why ??= 'no importer for this op';
    return;
  }
  const since = SINCE.get(n.op);
  if (since !== undefined && st.opset < since) {
    n.why = `${n.op} needs opset ${since}`;
    return;
  }
  const inputs = [...n.inputs];
  while (inputs.length && inputs[inputs.length - 1] === '') inputs.pop();
  const c: Norm = { st, n, a: new AttrReader(st, n), inputs, attrs: {}, op: n.op as OpType };
  handler(c);
  const ar = ARITY[c.op] ?? [1, 1];
  if (c.inputs.length < ar[0] || c.inputs.length > ar[1] || c.inputs.slice(0, ar[0]).includes('')) {
    st.problem(n, `expects ${ar[0] === ar[1] ? ar[0] : `${ar[0]}–${ar[1]}`} inputs, has ${c.inputs.length}`);
  }
  const outputs = n.outputs.slice(0, 1);
  if (!outputs[0]) st.problem(n, 'first output has no name');
  n.op = c.op;
  n.inputs = c.inputs;
  n.outputs = outputs;
  n.attrs = c.attrs;
  n.normal = true;
}

/** Outputs past the first (training statistics, masks, indices): an error only if something reads them. */
function dropExtraOutputs(c: Norm, what: string): void {
  for (const o of c.n.outputs.slice(1)) if (o) c.st.extraOutputs.set(o, `${what} output '${o}' of ${c.n.op} is not supported`);
}

/** Problems for entries of an int-list attribute below `min`; true when every entry is fine. */
function atLeast(c: Norm, attr: string, values: readonly number[], min: number, what: string): boolean {
  if (values.every((v) => v >= min)) return true;
  c.st.problem(c.n, `attribute '${attr}' is [${values.join(',')}]: ${what}`);
  return false;
}

/** strides/pads/dilations for Conv and pools, checked, with auto_pad resolved to explicit pads. */
function window(c: Norm, kernel: readonly number[], withDilations: boolean): { strides: number[]; pads: number[]; dilations?: number[] } {
  const { n, a } = c;
  const k = kernel.length;
  const ones = kernel.map(() => 1);
  const zeros = (): number[] => [...kernel.map(() => 0), ...kernel.map(() => 0)];
  const strides = a.ints('strides') ?? ones;
  const dilations = n.op === 'Conv' || withDilations ? (a.ints('dilations') ?? ones) : undefined;
  let pads = a.ints('pads') ?? zeros();
  if (strides.length !== k) c.st.problem(n, `strides has ${strides.length} entries for a ${k}-D kernel`);
  if (dilations && dilations.length !== k) c.st.problem(n, `dilations has ${dilations.length} entries for a ${k}-D kernel`);
  if (pads.length !== 2 * k) c.st.problem(n, `pads has ${pads.length} entries for a ${k}-D kernel`);
  // every check runs, so that one message lists them all
  const checks = [
    k > 0 || (c.st.problem(n, "attribute 'kernel_shape' is empty"), false),
    atLeast(c, 'kernel_shape', kernel, 1, 'every kernel dimension must be ≥ 1'),
    atLeast(c, 'strides', strides, 1, 'every stride must be ≥ 1'),
    !dilations || atLeast(c, 'dilations', dilations, 1, 'every dilation must be ≥ 1'),
    atLeast(c, 'pads', pads, 0, 'window pads must be ≥ 0'),
  ];
  const valid = checks.every(Boolean);
  const autoPad = a.str('auto_pad', 'NOTSET');
  if (autoPad === 'VALID') pads = zeros();
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    if (!valid) return { strides, pads, dilations };
    const x = c.st.shapes.get(c.inputs[0]);
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < k; i++) {
      const s = strides[i] ?? 1;
      const d = dilations?.[i] ?? 1;
      const span = (kernel[i] - 1) * d + 1;
      let total: number;
      if (s === 1) total = span - 1;
      else {
        const size = x && x.length === k + 2 ? x[i + 2] : -1;
        if (size < 0) {
          c.st.problem(n, `auto_pad ${autoPad} with stride ${s} needs the input's spatial size, which is not known statically`);
          return { strides, pads, dilations };
        }
        const out = Math.ceil(size / s);
        total = Math.max((out - 1) * s + span - size, 0);
      }
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    }
    pads = [...begin, ...end];
  } else if (autoPad !== 'NOTSET') c.st.problem(n, `auto_pad '${autoPad}' is not valid`);
  return dilations ? { strides, pads, dilations } : { strides, pads };
}

const conv: Normalizer = (c) => {
  const { st, n, a, inputs } = c;
  const w = st.shapes.get(inputs[1] ?? '');
  const given = a.ints('kernel_shape');
  const kernel = given ?? w?.slice(2);
  if (!kernel || (!given && kernel.some((k) => k < 0))) {
    st.problem(n, 'kernel_shape is absent and the weight shape is unknown');
    return;
  }
  c.attrs = { kernel_shape: kernel, ...window(c, kernel, false) };
  const group = a.int('group', 1);
  c.attrs.group = group;
  const x = st.shapes.get(inputs[0]);
  if (group < 1) st.problem(n, `attribute 'group' is ${group}: it must be ≥ 1`);
  else {
    const divides = (what: string, channels: number | undefined): void => {
      if (channels !== undefined && channels >= 0 && channels % group !== 0) st.problem(n, `attribute 'group' is ${group}, which does not divide the ${channels} ${what} channels`);
    };
    divides('input', x && x.length >= 2 ? x[1] : undefined);
    divides('output', w?.[0]);
  }
};

const pool: Normalizer = (c) => {
  const { st, n, a } = c;
  const kernel = a.ints('kernel_shape');
  if (!kernel) {
    st.problem(n, 'kernel_shape is required');
    return;
  }
  const ceil = st.opset >= 10 ? a.int('ceil_mode', 0) : 0;
  const isMax = n.op === 'MaxPool';
  const win = window(c, kernel, isMax && st.opset >= 10);
  c.attrs = { kernel_shape: kernel, strides: win.strides, pads: win.pads };
  if (isMax) {
    c.attrs.dilations = win.dilations ?? kernel.map(() => 1);
    c.attrs.ceil_mode = ceil;
    dropExtraOutputs(c, 'Indices');
  } else {
    c.attrs.ceil_mode = ceil;
    c.attrs.count_include_pad = a.int('count_include_pad', 0);
  }
};

const gemm: Normalizer = (c) => {
  const { a } = c;
  c.attrs = { alpha: a.float('alpha', 1), beta: a.float('beta', 1), transA: a.int('transA', 0), transB: a.int('transB', 0) };
};

const batchNorm: Normalizer = (c) => {
  const { st, n, a } = c;
  if (a.has('spatial') && a.int('spatial', 1) !== 1) st.problem(n, 'spatial=0 (per-activation statistics) is not supported');
  if (a.int('training_mode', 0) !== 0) st.problem(n, 'training_mode=1 is not supported');
  c.attrs = { epsilon: a.float('epsilon', 1e-5), momentum: a.float('momentum', 0.9) };
  dropExtraOutputs(c, 'training-mode');
};

/** A constant scalar operand input (Clip bounds, Pad value); `dflt` when the input is omitted. */
function scalarInput(c: Norm, idx: number, what: string, dflt: number): number {
  const name = c.inputs[idx];
  if (!name) return dflt;
  const v = scalarOf(c.st.constValue(name));
  if (v === undefined) c.st.problem(c.n, `${what} input '${name}' must be a constant scalar`);
  return v ?? dflt;
}

const clip: Normalizer = (c) => {
  if (c.st.opset < 11) {
    c.attrs = { min: c.a.float('min', -Infinity), max: c.a.float('max', Infinity) };
    return;
  }
  c.attrs = { min: scalarInput(c, 1, 'min', -Infinity), max: scalarInput(c, 2, 'max', Infinity) };
  c.inputs.length = 1;
};

const hardSigmoid: Normalizer = (c) => {
  c.attrs = { alpha: c.a.float('alpha', 0.2), beta: c.a.float('beta', 0.5) };
};

const concat: Normalizer = (c) => {
  const axis = c.a.int('axis', NaN);
  if (Number.isNaN(axis)) c.st.problem(c.n, 'axis is required');
  c.attrs = { axis };
};

const flatten: Normalizer = (c) => {
  c.attrs = { axis: c.a.int('axis', 1) };
};

const reshape: Normalizer = (c) => {
  const spec = reshapeSpec(c, c.inputs[0], c.inputs[1]);
  c.inputs.length = 1;
  if (!spec) return;
  c.attrs = { shape: spec };
  if (c.st.opset >= 14 && c.a.int('allowzero', 0) === 1 && spec.includes(0)) c.attrs.allowzero = 1;
};

const transpose: Normalizer = (c) => {
  const x = c.st.shapes.get(c.inputs[0]);
  const perm = c.a.ints('perm') ?? (x ? x.map((_, i, s) => s.length - 1 - i) : undefined);
  if (perm) c.attrs = { perm };
};

const squeeze: Normalizer = (c) => {
  const { st, n, a, inputs } = c;
  const needed = n.op === 'Unsqueeze';
  let axes: number[] | undefined;
  if (st.opset < 13) {
    axes = a.ints('axes');
    if (needed && !axes) st.problem(n, 'axes is required');
  } else if (inputs[1]) {
    axes = st.constInts(inputs[1]);
    if (!axes) st.problem(n, `axes input '${inputs[1]}' must be constant`);
  } else if (needed) st.problem(n, 'axes input is required');
  inputs.length = 1;
  if (axes) c.attrs = { axes };
};

const pad: Normalizer = (c) => {
  const { st, n, a, inputs } = c;
  const mode = a.str('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') st.problem(n, `mode '${mode}' is not supported`);
  let pads: number[] | undefined;
  let value = 0;
  if (st.opset < 11) {
    pads = a.ints('pads');
    value = a.float('value', 0);
  } else {
    pads = inputs[1] ? st.constInts(inputs[1]) : undefined;
    value = scalarInput(c, 2, 'constant_value', 0);
  }
  inputs.length = 1;
  if (!pads) {
    st.problem(n, 'pads must be constant');
    return;
  }
  // value only matters in constant mode; dropping it elsewhere keeps one canonical form.
  c.attrs = { pads, mode, value: mode === 'constant' ? value : 0 };
};

const softmax: Normalizer = (c) => {
  const { st, n, a } = c;
  if (st.opset >= 13) {
    c.attrs = { axis: a.int('axis', -1) };
    return;
  }
  // Before opset 13 Softmax flattens to 2-D at `axis` and normalizes over everything after:
  // that is the single-axis Softmax only when every axis after `axis` has size 1; otherwise the
  // node keeps those semantics (coerce2d, graph.ts), which the executor runs as they are.
  const axis = a.int('axis', 1);
  const x = st.shapes.get(c.inputs[0]);
  const ax = x && axis < 0 ? axis + x.length : axis;
  if (x && (ax < 0 || ax >= x.length)) st.problem(n, `axis ${axis} out of range for rank ${x.length}`);
  c.attrs = x && x.slice(ax + 1).every((d) => d === 1) ? { axis } : { axis, coerce2d: 1 };
};

const layerNorm: Normalizer = (c) => {
  const { st, n, a } = c;
  c.attrs = { axis: a.int('axis', -1), epsilon: a.float('epsilon', 1e-5) };
  // stash_type picks the precision of the mean and variance: the executor always uses float64
  a.int('stash_type', 1);
  dropExtraOutputs(c, 'Mean / InvStdDev');
  const x = st.shapes.get(c.inputs[0]);
  const axis = c.attrs.axis as number;
  if (x && (axis < -x.length || axis >= x.length)) st.problem(n, `axis ${axis} out of range for rank ${x.length}`);
  // counted from the end, as the decomposed form's fusion (fuse.ts) writes it: one form for both
  else if (x && axis >= 0) c.attrs.axis = axis - x.length;
};

const reduceMean: Normalizer = (c) => {
  const { st, n, a } = c;
  const keepdims = a.int('keepdims', 1);
  if (keepdims !== 0 && keepdims !== 1) st.problem(n, `keepdims is ${keepdims}: it must be 0 or 1`);
  const x = st.shapes.get(c.inputs[0]);
  // absent (or empty: opsets before 18 have no noop_with_empty_axes) axes reduce over every axis,
  // written out when the rank is known
  const given = a.ints('axes');
  const axes = given?.length ? given : x?.map((_, i) => i);
  if (axes && x && axes.some((ax) => ax < -x.length || ax >= x.length)) st.problem(n, `axes [${axes.join(',')}] out of range for rank ${x.length}`);
  if (axes && new Set(axes.map((ax) => (x && ax < 0 ? ax + x.length : ax))).size !== axes.length) st.problem(n, `axes [${axes.join(',')}] repeat an axis`);
  c.attrs = axes ? { axes, keepdims } : { keepdims };
};

/** Int values of a constant, with ONNX's ±INT64_MAX-style "to the end" bounds clamped to safe integers. */
function clampedInts(c: Norm, idx: number, what: string): number[] | undefined {
  const name = c.inputs[idx];
  if (!name) return undefined;
  const t = c.st.constValue(name);
  if (!t || t.dtype === 'float32' || t.shape.length > 1) {
    c.st.problem(c.n, `${what} input '${name}' must be a constant int vector`);
    return undefined;
  }
  const lim = BigInt(Number.MAX_SAFE_INTEGER);
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => {
    const b = BigInt(v);
    return Number(b > lim ? lim : b < -lim ? -lim : b);
  });
}

const slice: Normalizer = (c) => {
  const { st, n, a, inputs } = c;
  let starts: number[] | undefined;
  let ends: number[] | undefined;
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (st.opset < 10) {
    starts = a.ints('starts');
    ends = a.ints('ends');
    axes = a.ints('axes');
    if (!starts || !ends) st.problem(n, 'starts and ends are required');
  } else {
    starts = clampedInts(c, 1, 'starts');
    ends = clampedInts(c, 2, 'ends');
    axes = clampedInts(c, 3, 'axes');
    steps = clampedInts(c, 4, 'steps');
    if (!inputs[1] || !inputs[2]) st.problem(n, 'starts and ends inputs are required');
  }
  inputs.length = 1;
  if (!starts || !ends) return;
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    st.problem(n, `starts, ends, axes and steps have ${starts.length}, ${ends.length}, ${axes.length} and ${steps.length} entries: they must agree`);
    return;
  }
  if (steps.includes(0)) st.problem(n, 'a step of 0 is not valid');
  const x = st.shapes.get(c.inputs[0]);
  if (x && axes.some((ax) => ax < -x.length || ax >= x.length)) st.problem(n, `axes [${axes.join(',')}] out of range for rank ${x.length}`);
  c.attrs = { starts, ends, axes, steps };
};

const dropout: Normalizer = (c) => {
  const { st, n, inputs } = c;
  if (st.opset >= 12 && inputs[2]) {
    const tm = scalarOf(st.constValue(inputs[2]));
    if (tm !== 0) st.problem(n, 'training_mode must be constant false');
  }
  dropExtraOutputs(c, 'mask');
  c.op = 'Identity';
  inputs.length = 1;
};

/** ops without attributes */
/** The input coordinate ONNX's Resize maps output index y to, by coordinate_transformation_mode. */
function resizeCoord(mode: string, y: number, scale: number, inLen: number, outLen: number): number | undefined {
  switch (mode) {
    case 'half_pixel':
      return (y + 0.5) / scale - 0.5;
    case 'pytorch_half_pixel':
      return outLen > 1 ? (y + 0.5) / scale - 0.5 : 0;
    case 'asymmetric':
      return y / scale;
    case 'tf_half_pixel_for_nn':
      return (y + 0.5) / scale;
    case 'align_corners':
      return outLen === 1 ? 0 : (y * (inLen - 1)) / (outLen - 1);
    default:
      return undefined;
  }
}

function nearestRound(mode: string, x: number): number | undefined {
  const frac = x - Math.floor(x);
  switch (mode) {
    case 'round_prefer_floor':
      return frac === 0.5 ? Math.floor(x) : Math.round(x);
    case 'round_prefer_ceil':
      return frac === 0.5 ? Math.ceil(x) : Math.round(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    default:
      return undefined;
  }
}

/**
 * Resize (opset 10+) and Upsample (opset 9) in nearest mode by integer factors — the one form
 * graph.ts keeps (`scales` as ints, output index y reading input ⌊y/s⌋). The file's own
 * coordinate rule and rounding are evaluated on every output index of every axis (on the input's
 * sizes where known) and must pick exactly those inputs, so nothing the file means is lost;
 * anything else (linear/cubic modes, fractional or shrinking factors, tf_crop_and_resize, an
 * exclude_outside or antialias) is a problem of the node naming what.
 */
const resize: Normalizer = (c) => {
  const { st, n, a, inputs } = c;
  const mode = a.str('mode', 'nearest');
  if (mode !== 'nearest') st.problem(n, `mode '${mode}' is not supported (nearest only)`);
  const v11 = n.op === 'Resize' && st.opset >= 11;
  const coord = v11 ? a.str('coordinate_transformation_mode', 'half_pixel') : 'asymmetric';
  const rounding = v11 ? a.str('nearest_mode', 'round_prefer_floor') : 'floor';
  if (v11 && a.int('exclude_outside', 0) !== 0) st.problem(n, 'exclude_outside=1 is not supported');
  if (a.int('antialias', 0) !== 0) st.problem(n, 'antialias=1 is not supported');
  if (a.has('axes')) st.problem(n, "attribute 'axes' is not supported");
  a.float('cubic_coeff_a', -0.75);
  a.float('extrapolation_value', 0);
  a.str('keep_aspect_ratio_policy', 'stretch');
  const x = st.shapes.get(inputs[0]);
  let factors: number[] | undefined;
  const floats = (name: string | undefined): number[] | undefined => {
    if (!name) return undefined;
    const t = st.constValue(name);
    return t ? Array.from(t.data as ArrayLike<number | bigint>, Number) : undefined;
  };
  if (n.op === 'Upsample' && st.opset < 9) factors = a.has('scales') ? (n.attrs.scales as number[]).map(Number) : undefined;
  else {
    const scalesName = v11 ? inputs[2] : inputs[1];
    const sc = floats(scalesName);
    if (sc && sc.length > 0) factors = sc;
    else if (v11 && inputs[3]) {
      const sizes = floats(inputs[3]);
      if (!sizes) st.problem(n, `sizes input '${inputs[3]}' must be constant`);
      else if (!x || x.some((d) => d < 0)) st.problem(n, 'sizes needs the input shape known');
      else factors = sizes.map((s, i) => s / x[i]);
    } else if (scalesName && !sc) st.problem(n, `scales input '${scalesName}' must be constant`);
  }
  inputs.length = 1;
  if (!factors) {
    st.problem(n, 'needs constant scales or sizes');
    return;
  }
  if (!factors.every((f) => Number.isInteger(f) && f >= 1)) {
    st.problem(n, `scales [${factors.join(',')}] are not integers ≥ 1 (only integer upsampling is supported)`);
    return;
  }
  if (x && x.length !== factors.length) st.problem(n, `scales has ${factors.length} entries for rank ${x.length}`);
  if (resizeCoord(coord, 0, 1, 1, 1) === undefined) st.problem(n, `coordinate_transformation_mode '${coord}' is not supported`);
  else if (nearestRound(rounding, 0) === undefined) st.problem(n, `nearest_mode '${rounding}' is not supported`);
  else {
    factors.forEach((f, k) => {
      if (f === 1) return;
      const inLen = x && x[k] > 0 ? x[k] : 16;
      for (let y = 0; y < inLen * f; y++) {
        const src = Math.min(inLen - 1, Math.max(0, nearestRound(rounding, resizeCoord(coord, y, f, inLen, inLen * f)!)!));
        if (src !== Math.floor(y / f)) {
          st.problem(n, `coordinate_transformation_mode '${coord}' with nearest_mode '${rounding}' reads input ${src} for output ${y} on axis ${k} (×${f}), not ${Math.floor(y / f)}: only replicating upsampling is supported`);
          return;
        }
      }
    });
  }
  c.attrs = { mode: 'nearest', scales: factors };
  c.op = 'Resize';
};

const plain: Normalizer = () => {};

/**
 * One handler per importable default-domain op (graph.ts ops that exist in ONNX at opsets 9–17;
 * Gelu and Swish come from fusion; LayerNormalization is also fused from its decomposition). A Map, not an object: op names come from the file.
 */
const NORMALIZERS: ReadonlyMap<string, Normalizer> = new Map(
  Object.entries({
    Conv: conv,
    MaxPool: pool,
    AveragePool: pool,
    Gemm: gemm,
    BatchNormalization: batchNorm,
    Clip: clip,
    HardSigmoid: hardSigmoid,
    Concat: concat,
    Flatten: flatten,
    Reshape: reshape,
    Transpose: transpose,
    Squeeze: squeeze,
    Unsqueeze: squeeze,
    Pad: pad,
    Softmax: softmax,
    LayerNormalization: layerNorm,
    ReduceMean: reduceMean,
    Slice: slice,
    Dropout: dropout,
    Resize: resize,
    Upsample: resize,
    ...Object.fromEntries(['Relu', 'Sigmoid', 'HardSwish', 'Tanh', 'Erf', 'Sin', 'Cos', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'MatMul', 'GlobalAveragePool', 'Identity'].map((op) => [op, plain])),
  }),
);

/** Reshape's target as a constant spec, with dims of the data input expressed as ONNX's 0. */
function reshapeSpec(c: Norm, data: string | undefined, shapeName: string | undefined): number[] | undefined {
  const { st, n } = c;
  if (!shapeName) {
    st.problem(n, 'shape input is required');
    return undefined;
  }
  const s = st.getSym(shapeName);
  if (!s) {
    st.problem(n, `shape input '${shapeName}' is not constant (and not a foldable shape computation)`);
    return undefined;
  }
  const x = data ? st.shapes.get(data) : undefined;
  const spec: number[] = [];
  for (let i = 0; i < s.entries.length; i++) {
    const e = s.entries[i];
    if (typeof e === 'number') spec.push(e);
    else if (e.t === data && e.d === i) spec.push(0); // "copy this dim" is exactly ONNX's 0
    else {
      const known = st.shapes.get(e.t)?.[e.d] ?? -1;
      if (known >= 0) spec.push(known);
      else if (x && x[i] === -1 && e.d === 0 && i === 0 && sameBatch(st, e.t, data)) spec.push(0);
      else {
        st.problem(n, `shape entry ${i} is dim ${e.d} of '${e.t}', which is dynamic and cannot be expressed as a constant`);
        return undefined;
      }
    }
  }
  return spec;
}

/**
 * Whether dim 0 of `a` and `b` is provably the same: both descend, through ops that keep the
 * batch dim, from the same tensor. Covers `x.view(x.size(0), -1)` written against a sibling.
 */
function sameBatch(st: ImportState, a: string, b: string | undefined): boolean {
  if (!b) return false;
  const root = (t: string): string => {
    for (let guard = 0; guard < 10000; guard++) {
      const p = st.batchSource.get(t);
      if (p === undefined) return t;
      t = p;
    }
    return t;
  };
  return root(a) === root(b);
}
