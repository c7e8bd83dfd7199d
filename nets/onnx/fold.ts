/**
 * ONNX import, stage 2a: constant folding. Constant nodes, and the Shape→Gather/Slice→Unsqueeze→
 * Concat→Cast chains exporters emit to compute Reshape targets, tracked symbolically as "dim d of
 * tensor t" so that a dynamic batch folds to Reshape's `0` (and, once the importer binds an
 * input's dynamic dims, to plain numbers). One folder per op; a folder returns true when the node
 * is gone (its output is now a constant or a symbolic vector in the state). After normalization,
 * float32 subgraphs of constants (a weight transposed or scaled in the graph) fold through the FP32
 * executor, for ops whose float32 result is exact (data movement, + − × ÷, √, Relu/Clip), so that
 * the folded constant is bit for bit what a runtime computes.
 */
import { execNode } from '../fp32.js';
import type { Node, OpType, Tensor } from '../graph.js';
import { asInts, ImportState, int64Tensor, intValues, isInt, MAX_SYM_LEN, type SymEntry, type WNode } from './state.js';

type Folder = (st: ImportState, n: WNode, out: string) => boolean;

/** Folds `n` when it is constant or shape arithmetic; true when the node is gone. */
export function tryFold(st: ImportState, n: WNode): boolean {
  const f = FOLDERS.get(n.op);
  return f ? f(st, n, n.outputs[0]) : false;
}

const constant: Folder = (st, n, out) => {
  if (n.outputs.length !== 1 || !out) return false;
  const a = n.attrs;
  let t: Tensor | undefined;
  if (a.value && typeof a.value === 'object' && 'dtype' in a.value) t = a.value;
  else if (typeof a.value_float === 'number') t = { dtype: 'float32', shape: [], data: Float32Array.of(a.value_float) };
  else if (Array.isArray(a.value_floats)) t = { dtype: 'float32', shape: [a.value_floats.length], data: Float32Array.from(a.value_floats as number[]) };
  else if (typeof a.value_int === 'number') t = int64Tensor([a.value_int], true);
  else if (Array.isArray(a.value_ints)) t = int64Tensor(a.value_ints as number[], false);
  if (t) st.setConst(out, t);
  else {
    const why = n.attrErrors.length ? n.attrErrors.join('; ') : 'Constant has no supported value attribute (value, value_float(s), value_int(s))';
    st.badConsts.set(out, why);
  }
  return true;
};

const shape: Folder = (st, n, out) => {
  const x = st.shapes.get(n.inputs[0]);
  if (!x || !out) return false;
  let entries: SymEntry[] = x.map((d, i) => (d >= 0 ? d : { t: n.inputs[0], d: i }));
  if (st.opset >= 15) {
    const r = x.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const start = clamp(typeof n.attrs.start === 'number' ? n.attrs.start : 0);
    const end = clamp(typeof n.attrs.end === 'number' ? n.attrs.end : r);
    entries = entries.slice(start, end);
  }
  st.setSym(out, { entries, scalar: false, dtype: 'int64' });
  return true;
};

const cast: Folder = (st, n, out) => {
  const to = n.attrs.to;
  const s = st.getSym(n.inputs[0]);
  if (s && (to === 7 || to === 6) && out) {
    st.setSym(out, { ...s, dtype: to === 7 ? 'int64' : 'int32' });
    return true;
  }
  const c = st.consts.get(n.inputs[0]);
  if (c && out && (to === 1 || to === 6 || to === 7)) {
    const vals = Array.from(c.data as ArrayLike<number | bigint>, (v) => Number(v));
    let t: Tensor;
    if (to === 1) t = { dtype: 'float32', shape: c.shape, data: Float32Array.from(vals) };
    else if (vals.some((v) => !Number.isFinite(v))) return false;
    else if (to === 6) t = { dtype: 'int32', shape: c.shape, data: Int32Array.from(vals.map(Math.trunc)) };
    else t = { dtype: 'int64', shape: c.shape, data: BigInt64Array.from(vals.map((v) => BigInt(Math.trunc(v)))) };
    st.setConst(out, t);
    return true;
  }
  n.why = 'Cast is only supported on constants';
  return false;
};

const gather: Folder = (st, n, out) => {
  const s = st.getSym(n.inputs[0]);
  const idxT = st.constValue(n.inputs[1]);
  const idx = idxT ? intValues(idxT) : undefined;
  const axis = typeof n.attrs.axis === 'number' ? n.attrs.axis : 0;
  if (!s || s.scalar || !idx || !idxT || idxT.shape.length > 1 || (axis !== 0 && axis !== -1) || !out) {
    n.why = 'Gather is only supported on constant shape vectors';
    return false;
  }
  const len = s.entries.length;
  const picked: SymEntry[] = [];
  for (const i of idx) {
    const j = i < 0 ? i + len : i;
    if (j < 0 || j >= len) {
      st.problem(n, `index ${i} out of range for a vector of ${len}`);
      return true;
    }
    picked.push(s.entries[j]);
  }
  st.setSym(out, { entries: picked, scalar: idxT.shape.length === 0, dtype: s.dtype });
  return true;
};

/** Unsqueeze of a scalar to [1] and Squeeze of [1] to a scalar, along axis 0. */
const squeeze: Folder = (st, n, out) => {
  const s = st.getSym(n.inputs[0]);
  if (!s || !out) return false;
  const axes = st.opset >= 13 ? (n.inputs[1] ? st.constInts(n.inputs[1]) : undefined) : asInts(n.attrs.axes);
  if (n.op === 'Unsqueeze' && s.scalar && axes && axes.length === 1 && (axes[0] === 0 || axes[0] === -1)) {
    st.setSym(out, { ...s, scalar: false });
    return true;
  }
  if (n.op === 'Squeeze' && !s.scalar && s.entries.length === 1 && (!axes || (axes.length === 1 && (axes[0] === 0 || axes[0] === -1)))) {
    st.setSym(out, { ...s, scalar: true });
    return true;
  }
  return false;
};

const concat: Folder = (st, n, out) => {
  if (!out || n.inputs.length === 0) return false;
  const parts = n.inputs.map((i) => st.getSym(i));
  if (parts.some((p) => !p || p.scalar)) return false;
  const axis = n.attrs.axis;
  if (axis !== 0 && axis !== -1) return false;
  const entries = parts.flatMap((p) => p!.entries);
  if (entries.length > MAX_SYM_LEN) return false;
  st.setSym(out, { entries, scalar: false, dtype: parts[0]!.dtype });
  return true;
};

const slice: Folder = (st, n, out) => {
  const s = st.getSym(n.inputs[0]);
  if (!s || s.scalar || !out) {
    n.why = 'Slice is only supported on constant shape vectors';
    return false;
  }
  const get = (attr: string, idx: number): number[] | undefined =>
    st.opset >= 10 ? (n.inputs[idx] ? st.constInts(n.inputs[idx]) : undefined) : asInts(n.attrs[attr]);
  const starts = get('starts', 1);
  const ends = get('ends', 2);
  const axes = get('axes', 3);
  const steps = st.opset >= 10 ? get('', 4) : undefined;
  if (!starts || !ends || starts.length !== 1 || ends.length !== 1 || (axes && (axes.length !== 1 || (axes[0] !== 0 && axes[0] !== -1)))) {
    n.why = 'Slice is only supported on constant shape vectors';
    return false;
  }
  const step = steps?.[0] ?? 1;
  if (step === 0) return false;
  const len = s.entries.length;
  const norm = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + len : v, lo), hi);
  const picked: SymEntry[] = [];
  if (step > 0) for (let i = norm(starts[0], 0, len); i < norm(ends[0], 0, len); i += step) picked.push(s.entries[i]);
  else for (let i = norm(starts[0], -1, len - 1); i > norm(ends[0], -1, len - 1); i += step) picked.push(s.entries[i]);
  st.setSym(out, { entries: picked, scalar: false, dtype: s.dtype });
  return true;
};

const identity: Folder = (st, n, out) => {
  const s = st.syms.get(n.inputs[0]);
  if (!s || !out) return false;
  st.setSym(out, s);
  return true;
};

/** Elementwise Add / Sub / Mul / Div (integer, truncating) of known int vectors. */
const arithmetic: Folder = (st, n, out) => {
  if (!out) return false;
  const a = st.getSym(n.inputs[0]);
  const b = st.getSym(n.inputs[1]);
  if (!a || !b) return false;
  const len = Math.max(a.entries.length, b.entries.length);
  if ((a.entries.length !== len && a.entries.length !== 1) || (b.entries.length !== len && b.entries.length !== 1)) return false;
  const res: number[] = [];
  for (let i = 0; i < len; i++) {
    const x = a.entries[a.entries.length === 1 ? 0 : i];
    const y = b.entries[b.entries.length === 1 ? 0 : i];
    if (typeof x !== 'number' || typeof y !== 'number') return false;
    const v = n.op === 'Add' ? x + y : n.op === 'Sub' ? x - y : n.op === 'Mul' ? x * y : y === 0 ? NaN : Math.trunc(x / y);
    if (!isInt(v)) return false;
    res.push(v);
  }
  st.setSym(out, { entries: res, scalar: a.scalar && b.scalar, dtype: a.dtype });
  return true;
};

/** a Map, not an object: op names come from the file ('constructor' is not a folder) */
const FOLDERS: ReadonlyMap<string, Folder> = new Map(Object.entries({
  Constant: constant,
  Shape: shape,
  Cast: cast,
  Gather: gather,
  Unsqueeze: squeeze,
  Squeeze: squeeze,
  Concat: concat,
  Slice: slice,
  Identity: identity,
  Add: arithmetic,
  Sub: arithmetic,
  Mul: arithmetic,
  Div: arithmetic,
}));

/** normalized ops folded when every input is a float32 constant: exactly rounded or data movement */
const EXACT_OPS: ReadonlySet<OpType> = new Set<OpType>([
  'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Concat', 'Slice', 'Pad',
  'Add', 'Sub', 'Mul', 'Div', 'Sqrt', 'Relu', 'Clip',
]);

/** Folds a normalized node whose inputs are all float32 constants; true when the node is gone. */
export function tryFoldConstant(st: ImportState, n: WNode): boolean {
  const out = n.outputs[0];
  if (!n.normal || !out || n.outputs.length !== 1 || !EXACT_OPS.has(n.op as OpType) || n.attrErrors.length) return false;
  const ins: Tensor[] = [];
  for (const i of n.inputs) {
    const c = i === '' ? undefined : st.consts.get(i);
    if (!c || c.dtype !== 'float32') return false;
    ins.push(c);
  }
  if (ins.length === 0) return false;
  const node: Node = { name: n.name, op: n.op as OpType, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs };
  try {
    st.setConst(out, execNode(node, ins, 'scalar')[0]);
  } catch {
    // shapes that do not fit: left to the node, whose problem the shape rules then report
    return false;
  }
  return true;
}
