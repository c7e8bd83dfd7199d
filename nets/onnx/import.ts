/**
 * ONNX → Network IR (nets/graph.ts).
 *
 * Pipeline, each stage collecting every problem before anything is thrown:
 *   1. decode (protobufjs, schema.ts), check the default-domain opset (9–17), read initializers,
 *      graph inputs and nodes; name unnamed nodes; check names are unique, every consumed tensor is
 *      produced, and sort topologically (files are supposed to be sorted; some are not).
 *   2. one pass in topological order that either constant-folds a node (Constant, and the
 *      Shape→Gather/Slice→Unsqueeze→Concat→Cast chains exporters emit to compute Reshape targets,
 *      tracked symbolically as "dim d of tensor t" so a dynamic batch folds to Reshape's `0`) or
 *      normalizes it to graph.ts's single form: operands that moved between attributes and inputs
 *      across opsets become attributes, every ONNX default is written out, auto_pad becomes pads.
 *   3. pattern fusion: decomposed GELU (erf and tanh forms), x·Sigmoid(x) → Swish,
 *      x·HardSigmoid(x; 1/6, 1/2) → HardSwish — only when the intermediates have no other use.
 *   4. dead-node removal, then one ModelError listing every op we cannot import.
 *   5. initializers = the constants that surviving nodes read, in first-use order.
 * The exporter (export.ts) writes the forms this file reads back, so import→export→import is a
 * fixed point.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ModelError, type ModelProblem } from '../errors.js';
import type { AttrValue, DType, Graph, Node, OpType, Tensor, ValueInfo } from '../graph.js';
import { partialOutputShapes, type PShape } from './partial-shapes.js';
import { AttrType, ModelProto, toNum, type PAttribute, type PModel, type PNode, type PTensor, type PValueInfo } from './schema.js';
import { MAX_RANK, dataTypeName, dtypeFromOnnx, tensorFromProto } from './tensor.js';

export const MIN_OPSET = 9;
export const MAX_OPSET = 17;

/** A node while importing: raw ONNX (op/attrs as in the file) until `normal` is set. */
interface WNode {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  attrErrors: string[];
  normal: boolean;
  /** for raw nodes left in the graph: why they could not be imported */
  why?: string;
}

/** One entry of a symbolically tracked int vector: a known value or "dim d of tensor t". */
type SymEntry = number | { t: string; d: number };
interface Sym {
  entries: SymEntry[];
  scalar: boolean;
  dtype: 'int64' | 'int32';
}

const MAX_SYM_LEN = 64;
const utf8 = new TextDecoder('utf-8');

/** protobufjs hands back Uint8Array for present bytes fields but a plain [] default for absent ones */
function text(b: unknown): string {
  return b instanceof Uint8Array ? utf8.decode(b) : Array.isArray(b) ? utf8.decode(Uint8Array.from(b as number[])) : '';
}

function isImportable(op: string): op is OpType {
  return (IMPORTABLE as readonly string[]).includes(op);
}
/** graph.ts ops that exist in the ONNX default domain at opsets 9–17 (Gelu/Swish come from fusion). */
const IMPORTABLE = [
  'Conv', 'Gemm', 'MatMul', 'BatchNormalization', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf',
  'Add', 'Sub', 'Mul', 'Div', 'Concat', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Transpose',
  'Squeeze', 'Unsqueeze', 'Pad', 'Softmax', 'Identity',
] as const;

/** [min, max] input count per op after normalization (optional trailing inputs stripped). */
const ARITY: Record<string, [number, number]> = {
  Conv: [2, 3], Gemm: [2, 3], MatMul: [2, 2], BatchNormalization: [5, 5], Concat: [1, Infinity],
  Add: [2, 2], Sub: [2, 2], Mul: [2, 2], Div: [2, 2],
};

// ---------------------------------------------------------------------------------------------
// small helpers

function isInt(v: number): boolean {
  return Number.isSafeInteger(v);
}

function intValues(t: Tensor): number[] | undefined {
  if (t.dtype === 'float32') return undefined;
  const out: number[] = [];
  for (let i = 0; i < t.data.length; i++) {
    const v = Number(t.data[i]);
    if (!isInt(v)) return undefined;
    out.push(v);
  }
  return out;
}

function asInts(v: AttrValue | undefined): number[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && isInt(x)) ? (v as number[]) : undefined;
}

function scalarOf(t: Tensor | undefined): number | undefined {
  if (!t || t.data.length !== 1) return undefined;
  return Number(t.data[0]);
}

function int64Tensor(values: readonly number[], scalar: boolean): Tensor {
  return { dtype: 'int64', shape: scalar ? [] : [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

function near(v: number | undefined, target: number, rel = 1e-6): boolean {
  return v !== undefined && Math.abs(v - target) <= rel * Math.abs(target);
}

export function attrFromProto(a: PAttribute, where: string, file?: string): AttrValue | { error: string } {
  let type = a.type ?? 0;
  if (a.ref_attr_name) return { error: `attribute '${a.name}' refers to a function attribute (${a.ref_attr_name})` };
  if (type === AttrType.UNDEFINED) {
    // IR v1 files have no discriminator: infer it from which field is present.
    if (a.t) type = AttrType.TENSOR;
    else if (a.ints?.length) type = AttrType.INTS;
    else if (a.floats?.length) type = AttrType.FLOATS;
    else if (a.strings?.length) type = AttrType.STRINGS;
    else if (a.s?.length) type = AttrType.STRING;
    else if (Object.prototype.hasOwnProperty.call(a, 'i')) type = AttrType.INT;
    else if (Object.prototype.hasOwnProperty.call(a, 'f')) type = AttrType.FLOAT;
  }
  switch (type) {
    case AttrType.FLOAT:
      return a.f ?? 0;
    case AttrType.INT: {
      const v = toNum(a.i);
      return isInt(v) ? v : { error: `attribute '${a.name}' value ${v} is not a safe integer` };
    }
    case AttrType.STRING:
      return text(a.s);
    case AttrType.FLOATS:
      return [...(a.floats ?? [])];
    case AttrType.INTS: {
      const v = (a.ints ?? []).map(toNum);
      return v.every(isInt) ? v : { error: `attribute '${a.name}' has values that are not safe integers` };
    }
    case AttrType.STRINGS:
      return (a.strings ?? []).map(text);
    case AttrType.TENSOR:
      if (!a.t) return { error: `attribute '${a.name}' has type TENSOR but no tensor` };
      try {
        return tensorFromProto(a.t, where, file);
      } catch (e) {
        if (e instanceof ModelError) return { error: e.problems.map((p) => p.message).join('; ') };
        throw e;
      }
    default:
      return { error: `attribute '${a.name}' has unsupported type ${type} (graphs, sparse tensors and lists of tensors are not supported)` };
  }
}

export interface ParsedValueInfo {
  dtype?: DType;
  shape?: number[];
  error?: string;
}

export function parseValueInfo(v: PValueInfo): ParsedValueInfo {
  const tt = v.type?.tensor_type;
  if (!tt) return { error: 'has no tensor type' };
  const dtype = tt.elem_type === 11 ? undefined : dtypeFromOnnx(tt.elem_type ?? 0);
  if (!dtype) return { error: `element type ${dataTypeName(tt.elem_type ?? 0)} is not supported (float32, int8, uint8, int32, int64)` };
  if (!tt.shape) return { dtype };
  const dims = tt.shape.dim ?? [];
  if (dims.length > MAX_RANK) return { error: `rank ${dims.length} exceeds ${MAX_RANK}` };
  const shape: number[] = [];
  for (const d of dims) {
    // presence, not value: protobufjs reads an absent oneof member as its default (0)
    const has = Object.prototype.hasOwnProperty.call(d, 'dim_value');
    if (!has) {
      shape.push(-1);
      continue;
    }
    const n = toNum(d.dim_value);
    if (!isInt(n) || n < 0) return { error: `invalid dimension ${n}` };
    shape.push(n);
  }
  return { dtype, shape };
}

// ---------------------------------------------------------------------------------------------

class Importer {
  private readonly problems: ModelProblem[] = [];
  private readonly consts = new Map<string, Tensor>();
  /** constants that failed to load: reported only if something still reads them */
  private readonly badConsts = new Map<string, string>();
  private readonly syms = new Map<string, Sym>();
  private readonly shapes = new Map<string, PShape>();
  private readonly graphInputs = new Map<string, ValueInfo>();
  private readonly valueInfo = new Map<string, PShape>();
  private readonly domainOpset = new Map<string, number>();
  private opset = 0;

  constructor(
    private readonly model: PModel,
    private readonly file: string | undefined,
    private readonly options: ImportOptions,
  ) {}

  private fail(): never {
    throw new ModelError(this.problems, this.file);
  }

  private problem(n: { name: string; op: string } | null, message: string): void {
    if (n) this.problems.push({ node: n.name, op: n.op, opset: this.opset, message });
    else this.problems.push({ node: '', message });
  }

  run(): Graph {
    const m = this.model;
    for (const o of m.opset_import ?? []) {
      const d = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
      this.domainOpset.set(d, toNum(o.version));
    }
    const opset = this.domainOpset.get('');
    if (opset === undefined) {
      this.problems.push({ node: '', message: 'model imports no default-domain (ai.onnx) opset' });
      this.fail();
    }
    if (!(opset >= MIN_OPSET && opset <= MAX_OPSET)) {
      this.problems.push({ node: '', opset, message: `default-domain opset ${opset} is not supported (supported: ${MIN_OPSET}–${MAX_OPSET})` });
      this.fail();
    }
    this.opset = opset;
    const g = m.graph;
    if (!g) {
      this.problems.push({ node: '', message: 'model has no graph' });
      this.fail();
    }

    // --- initializers
    for (const t of g.initializer ?? []) this.loadInitializer(t);
    for (const [name, t] of this.consts) this.shapes.set(name, t.shape);
    for (const sp of (g.sparse_initializer ?? []) as { values?: PTensor | null }[]) {
      const name = sp?.values?.name ?? '';
      if (name) this.badConsts.set(name, 'sparse initializers are not supported');
    }

    // --- graph inputs (IR < 4 lists initializers as inputs too: those are constants)
    for (const v of g.input ?? []) {
      const name = v.name ?? '';
      if (!name) {
        this.problem(null, 'graph input without a name');
        continue;
      }
      if (this.consts.has(name) || this.badConsts.has(name)) continue;
      const bound = this.options.constInputs?.get(name);
      if (bound) {
        this.consts.set(name, bound);
        this.shapes.set(name, bound.shape);
        continue;
      }
      const p = parseValueInfo(v);
      if (p.error || !p.shape) {
        this.problem(null, `graph input '${name}' ${p.error ?? 'has unknown rank'}`);
        this.badConsts.set(name, 'graph input could not be read'); // known, so consumers do not cascade
        continue;
      }
      if (this.graphInputs.has(name)) this.problem(null, `graph input '${name}' is listed twice`);
      this.graphInputs.set(name, { name, dtype: p.dtype!, shape: p.shape });
      this.shapes.set(name, p.shape);
    }

    // value_info (when the exporter ran shape inference) fills in what partial propagation cannot
    for (const v of g.value_info ?? []) {
      const p = v.name ? parseValueInfo(v) : undefined;
      if (p?.shape && !this.shapes.has(v.name)) this.valueInfo.set(v.name, p.shape);
    }

    // --- nodes
    let nodes = this.readNodes(g.node ?? []);
    const outputNames: string[] = [];
    for (const v of g.output ?? []) {
      if (!v.name) this.problem(null, 'graph output without a name');
      else outputNames.push(v.name);
    }
    if (outputNames.length === 0) this.problem(null, 'graph has no outputs');
    nodes = this.checkAndSort(nodes, outputNames);
    if (this.problems.length) this.fail();

    // --- fold / normalize
    const kept: WNode[] = [];
    for (const n of nodes) {
      if (n.domain === '' && this.tryFold(n)) continue;
      if (n.domain === '') this.normalize(n);
      else n.why = `domain '${n.domain}' is not supported`;
      kept.push(n);
      this.propagateShapes(n);
    }

    // --- fuse, prune, report unsupported
    const outputSet = new Set(outputNames);
    let live = this.fuse(kept, outputSet);
    live = this.prune(live, outputSet);
    for (const n of live) {
      if (n.normal) continue;
      const opset = this.domainOpset.get(n.domain);
      this.problems.push({
        node: n.name,
        op: n.op,
        opset,
        message: `unsupported (domain '${n.domain || 'ai.onnx'}'${n.why ? `: ${n.why}` : ''})`,
      });
    }
    for (const n of live) for (const e of n.attrErrors) this.problem(n, e);

    // --- initializers actually read, in first-use order
    const produced = new Set<string>();
    for (const n of live) for (const o of n.outputs) if (o) produced.add(o);
    const inits = new Map<string, Tensor>();
    const need = (name: string, who: WNode | null): void => {
      if (name === '' || produced.has(name) || this.graphInputs.has(name) || inits.has(name)) return;
      const t = this.constValue(name);
      if (t) inits.set(name, t);
      else if (this.extraOutputs.has(name)) this.problem(who, this.extraOutputs.get(name)!);
      else if (this.badConsts.has(name)) this.problem(who, `constant '${name}': ${this.badConsts.get(name)}`);
      else if (this.syms.has(name)) this.problem(who, `input '${name}' depends on a dynamic dimension and cannot be constant-folded`);
      else this.problem(who, `input '${name}' is not available after import`);
    };
    for (const n of live) for (const i of n.inputs) need(i, n);
    for (const o of outputNames) need(o, null);
    // an output whose shape is unknown because an op is unsupported is no news: report the op only
    if (this.problems.length) this.fail();
    // fusion replaced nodes (and with them, ops no rule could see through): propagate again
    for (const n of live) this.propagateShapes(n);

    // --- graph outputs
    const outputs: ValueInfo[] = [];
    for (const v of g.output ?? []) {
      if (!v.name) continue;
      const p = parseValueInfo(v);
      const inferred = this.shapes.get(v.name) ?? inits.get(v.name)?.shape;
      const shape = p.shape ?? (inferred ? [...inferred] : undefined);
      if (p.error && v.type?.tensor_type) this.problem(null, `graph output '${v.name}' ${p.error}`);
      else if (!shape) this.problem(null, `graph output '${v.name}' has no shape and none could be inferred`);
      else outputs.push({ name: v.name, dtype: p.dtype ?? inits.get(v.name)?.dtype ?? 'float32', shape });
    }
    if (this.problems.length) this.fail();

    const meta: Record<string, string> = {};
    for (const e of m.metadata_props ?? []) if (e.key) meta[e.key] = e.value ?? '';
    if (this.file) meta.source = this.file;
    const producer = [m.producer_name, m.producer_version].filter(Boolean).join(' ');
    if (producer) meta.producer = producer;

    return {
      name: g.name || (this.file ? basename(this.file) : 'graph'),
      inputs: [...this.graphInputs.values()],
      outputs,
      initializers: inits,
      nodes: live.map((n) => ({ name: n.name, op: n.op as OpType, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs })),
      opset: this.opset,
      meta,
    };
  }

  private loadInitializer(t: PTensor): void {
    const name = t.name ?? '';
    if (!name) {
      this.problem(null, 'initializer without a name');
      return;
    }
    if (this.consts.has(name) || this.badConsts.has(name)) {
      this.problem(null, `initializer '${name}' is defined twice`);
      return;
    }
    try {
      this.consts.set(name, tensorFromProto(t, name, this.file));
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      this.badConsts.set(name, e.problems.map((p) => p.message).join('; '));
    }
  }

  private readNodes(pnodes: PNode[]): WNode[] {
    const names = new Set<string>();
    for (const p of pnodes) if (p.name) names.add(p.name);
    const used = new Set<string>();
    const nextSuffix = new Map<string, number>();
    const out: WNode[] = [];
    pnodes.forEach((p, idx) => {
      const op = p.op_type ?? '';
      let name = p.name ?? '';
      // Node names carry no semantics: give unnamed/duplicate nodes a fresh, stable one.
      if (!name || used.has(name)) {
        const base = name || `${op || 'node'}_${idx}`;
        let k = nextSuffix.get(base) ?? 0;
        let cand = name ? `${base}_${++k}` : base;
        while (used.has(cand) || names.has(cand)) cand = `${base}_${++k}`;
        nextSuffix.set(base, k);
        name = cand;
      }
      used.add(name);
      const attrs: Record<string, AttrValue> = {};
      const attrErrors: string[] = [];
      for (const a of p.attribute ?? []) {
        if (!a.name) {
          attrErrors.push('attribute without a name');
          continue;
        }
        const v = attrFromProto(a, `${name}.${a.name}`, this.file);
        if (typeof v === 'object' && v !== null && 'error' in v) attrErrors.push(v.error);
        else attrs[a.name] = v;
      }
      const node: WNode = {
        name,
        op,
        domain: p.domain === 'ai.onnx' ? '' : (p.domain ?? ''),
        inputs: [...(p.input ?? [])],
        outputs: [...(p.output ?? [])],
        attrs,
        attrErrors,
        normal: false,
      };
      if (!op) this.problem(node, 'node has no op_type');
      out.push(node);
    });
    return out;
  }

  /** Unique producers, every consumed tensor available, topological order (stable when already sorted). */
  private checkAndSort(nodes: WNode[], outputNames: string[]): WNode[] {
    const producer = new Map<string, number>();
    nodes.forEach((n, i) => {
      for (const o of n.outputs) {
        if (o === '') continue;
        if (producer.has(o) || this.consts.has(o) || this.badConsts.has(o) || this.graphInputs.has(o)) {
          this.problem(n, `tensor '${o}' is produced more than once`);
        } else producer.set(o, i);
      }
    });
    const known = (t: string): boolean => t === '' || producer.has(t) || this.consts.has(t) || this.badConsts.has(t) || this.graphInputs.has(t);
    for (const n of nodes) for (const i of n.inputs) if (!known(i)) this.problem(n, `input '${i}' is not produced by any node, initializer or graph input`);
    for (const o of outputNames) if (!known(o) || o === '') this.problem(null, `graph output '${o}' is not produced by any node`);
    if (this.problems.length) return nodes;

    // Iterative DFS post-order: no recursion, so a long chain in a hostile file cannot blow the stack.
    const state = new Uint8Array(nodes.length);
    const cursor = new Int32Array(nodes.length);
    const order: WNode[] = [];
    for (let root = 0; root < nodes.length; root++) {
      if (state[root]) continue;
      const stack = [root];
      state[root] = 1;
      while (stack.length) {
        const v = stack[stack.length - 1];
        const ins = nodes[v].inputs;
        if (cursor[v] < ins.length) {
          const p = producer.get(ins[cursor[v]++]);
          if (p === undefined) continue;
          if (state[p] === 0) {
            state[p] = 1;
            stack.push(p);
          } else if (state[p] === 1) {
            this.problem(nodes[v], `graph has a cycle through tensor '${ins[cursor[v] - 1]}'`);
            return nodes;
          }
        } else {
          state[v] = 2;
          order.push(nodes[v]);
          stack.pop();
        }
      }
    }
    return order;
  }

  // -------------------------------------------------------------------------------------------
  // constants and symbolic int vectors

  private constValue(name: string): Tensor | undefined {
    const c = this.consts.get(name);
    if (c) return c;
    const s = this.syms.get(name);
    if (s && s.entries.every((e) => typeof e === 'number')) {
      const vals = s.entries as number[];
      const t: Tensor =
        s.dtype === 'int64' ? int64Tensor(vals, s.scalar) : { dtype: 'int32', shape: s.scalar ? [] : [vals.length], data: Int32Array.from(vals) };
      this.consts.set(name, t);
      return t;
    }
    return undefined;
  }

  private getSym(name: string): Sym | undefined {
    if (name === '') return undefined;
    const s = this.syms.get(name);
    if (s) return s;
    const t = this.consts.get(name);
    if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32') || t.shape.length > 1 || t.data.length > MAX_SYM_LEN) return undefined;
    const v = intValues(t);
    return v ? { entries: v, scalar: t.shape.length === 0, dtype: t.dtype } : undefined;
  }

  private constInts(name: string): number[] | undefined {
    const t = this.constValue(name);
    return t ? intValues(t) : undefined;
  }

  private setSym(name: string, s: Sym): void {
    this.syms.set(name, s);
    this.shapes.set(name, s.scalar ? [] : [s.entries.length]);
  }

  /** Folds shape arithmetic and Constant nodes; true when the node is gone. */
  private tryFold(n: WNode): boolean {
    const out = n.outputs[0];
    switch (n.op) {
      case 'Constant': {
        if (n.outputs.length !== 1 || !out) return false;
        const a = n.attrs;
        let t: Tensor | undefined;
        if (a.value && typeof a.value === 'object' && 'dtype' in a.value) t = a.value;
        else if (typeof a.value_float === 'number') t = { dtype: 'float32', shape: [], data: Float32Array.of(a.value_float) };
        else if (Array.isArray(a.value_floats)) t = { dtype: 'float32', shape: [a.value_floats.length], data: Float32Array.from(a.value_floats as number[]) };
        else if (typeof a.value_int === 'number') t = int64Tensor([a.value_int], true);
        else if (Array.isArray(a.value_ints)) t = int64Tensor(a.value_ints as number[], false);
        if (t) {
          this.consts.set(out, t);
          this.shapes.set(out, t.shape);
        } else {
          const why = n.attrErrors.length ? n.attrErrors.join('; ') : 'Constant has no supported value attribute (value, value_float(s), value_int(s))';
          this.badConsts.set(out, why);
        }
        return true;
      }
      case 'Shape': {
        const x = this.shapes.get(n.inputs[0]);
        if (!x || !out) return false;
        let entries: SymEntry[] = x.map((d, i) => (d >= 0 ? d : { t: n.inputs[0], d: i }));
        if (this.opset >= 15) {
          const r = x.length;
          const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
          const start = clamp(typeof n.attrs.start === 'number' ? n.attrs.start : 0);
          const end = clamp(typeof n.attrs.end === 'number' ? n.attrs.end : r);
          entries = entries.slice(start, end);
        }
        this.setSym(out, { entries, scalar: false, dtype: 'int64' });
        return true;
      }
      case 'Cast': {
        const to = n.attrs.to;
        const s = this.getSym(n.inputs[0]);
        if (s && (to === 7 || to === 6) && out) {
          this.setSym(out, { ...s, dtype: to === 7 ? 'int64' : 'int32' });
          return true;
        }
        const c = this.consts.get(n.inputs[0]);
        if (c && out && (to === 1 || to === 6 || to === 7)) {
          const vals = Array.from(c.data as ArrayLike<number | bigint>, (v) => Number(v));
          let t: Tensor;
          if (to === 1) t = { dtype: 'float32', shape: c.shape, data: Float32Array.from(vals) };
          else if (vals.some((v) => !Number.isFinite(v))) return false;
          else if (to === 6) t = { dtype: 'int32', shape: c.shape, data: Int32Array.from(vals.map(Math.trunc)) };
          else t = { dtype: 'int64', shape: c.shape, data: BigInt64Array.from(vals.map((v) => BigInt(Math.trunc(v)))) };
          this.consts.set(out, t);
          this.shapes.set(out, t.shape);
          return true;
        }
        n.why = 'Cast is only supported on constants';
        return false;
      }
      case 'Gather': {
        const s = this.getSym(n.inputs[0]);
        const idxT = this.constValue(n.inputs[1]);
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
            this.problem(n, `index ${i} out of range for a vector of ${len}`);
            return true;
          }
          picked.push(s.entries[j]);
        }
        this.setSym(out, { entries: picked, scalar: idxT.shape.length === 0, dtype: s.dtype });
        return true;
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        const s = this.getSym(n.inputs[0]);
        if (!s || !out) return false;
        const axes = this.opset >= 13 ? (n.inputs[1] ? this.constInts(n.inputs[1]) : undefined) : asInts(n.attrs.axes);
        if (n.op === 'Unsqueeze' && s.scalar && axes && axes.length === 1 && (axes[0] === 0 || axes[0] === -1)) {
          this.setSym(out, { ...s, scalar: false });
          return true;
        }
        if (n.op === 'Squeeze' && !s.scalar && s.entries.length === 1 && (!axes || (axes.length === 1 && (axes[0] === 0 || axes[0] === -1)))) {
          this.setSym(out, { ...s, scalar: true });
          return true;
        }
        return false;
      }
      case 'Concat': {
        if (!out || n.inputs.length === 0) return false;
        const parts = n.inputs.map((i) => this.getSym(i));
        if (parts.some((p) => !p || p.scalar)) return false;
        const axis = n.attrs.axis;
        if (axis !== 0 && axis !== -1) return false;
        const entries = parts.flatMap((p) => p!.entries);
        if (entries.length > MAX_SYM_LEN) return false;
        this.setSym(out, { entries, scalar: false, dtype: parts[0]!.dtype });
        return true;
      }
      case 'Slice': {
        const s = this.getSym(n.inputs[0]);
        if (!s || s.scalar || !out) {
          n.why = 'Slice is only supported on constant shape vectors';
          return false;
        }
        const get = (attr: string, idx: number): number[] | undefined =>
          this.opset >= 10 ? (n.inputs[idx] ? this.constInts(n.inputs[idx]) : undefined) : asInts(n.attrs[attr]);
        const starts = get('starts', 1);
        const ends = get('ends', 2);
        const axes = get('axes', 3);
        const steps = this.opset >= 10 ? get('', 4) : undefined;
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
        this.setSym(out, { entries: picked, scalar: false, dtype: s.dtype });
        return true;
      }
      case 'Identity': {
        const s = this.syms.get(n.inputs[0]);
        if (!s || !out) return false;
        this.setSym(out, s);
        return true;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        if (!out) return false;
        const a = this.getSym(n.inputs[0]);
        const b = this.getSym(n.inputs[1]);
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
        this.setSym(out, { entries: res, scalar: a.scalar && b.scalar, dtype: a.dtype });
        return true;
      }
      default:
        return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // normalization to graph.ts forms

  private normalize(n: WNode): void {
    const op = n.op;
    const isKnown = isImportable(op) || op === 'Dropout';
    if (!isKnown) {
      n.why ??= 'no importer for this op';
      return;
    }
    if (op === 'HardSwish' && this.opset < 14) {
      n.why = 'HardSwish needs opset 14';
      return;
    }
    const a = new AttrReader(n, this.opset, this.problems);
    const inputs = [...n.inputs];
    while (inputs.length && inputs[inputs.length - 1] === '') inputs.pop();
    let attrs: Record<string, AttrValue> = {};
    const outputs = n.outputs.slice(0, 1);
    let newOp: OpType = op as OpType;
    const dropExtraOutputs = (what: string) => {
      for (const o of n.outputs.slice(1)) if (o) this.extraOutputs.set(o, `${what} output '${o}' of ${n.op} is not supported`);
    };

    switch (op) {
      case 'Conv': {
        const w = this.shapes.get(inputs[1] ?? '');
        const kernel = a.ints('kernel_shape') ?? w?.slice(2);
        if (!kernel || kernel.some((k) => k < 0)) {
          this.problem(n, 'kernel_shape is absent and the weight shape is unknown');
          break;
        }
        attrs = { kernel_shape: kernel, ...this.window(n, a, kernel, inputs[0], false) };
        attrs.group = a.int('group', 1);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const kernel = a.ints('kernel_shape');
        if (!kernel) {
          this.problem(n, 'kernel_shape is required');
          break;
        }
        const ceil = this.opset >= 10 ? a.int('ceil_mode', 0) : 0;
        const win = this.window(n, a, kernel, inputs[0], op === 'MaxPool' && this.opset >= 10);
        attrs = { kernel_shape: kernel, strides: win.strides, pads: win.pads };
        if (op === 'MaxPool') {
          attrs.dilations = win.dilations ?? kernel.map(() => 1);
          attrs.ceil_mode = ceil;
          dropExtraOutputs('Indices');
        } else {
          attrs.ceil_mode = ceil;
          attrs.count_include_pad = a.int('count_include_pad', 0);
        }
        break;
      }
      case 'Gemm':
        attrs = { alpha: a.float('alpha', 1), beta: a.float('beta', 1), transA: a.int('transA', 0), transB: a.int('transB', 0) };
        break;
      case 'BatchNormalization': {
        if (a.has('spatial') && a.int('spatial', 1) !== 1) this.problem(n, 'spatial=0 (per-activation statistics) is not supported');
        if (a.int('training_mode', 0) !== 0) this.problem(n, 'training_mode=1 is not supported');
        attrs = { epsilon: a.float('epsilon', 1e-5), momentum: a.float('momentum', 0.9) };
        dropExtraOutputs('training-mode');
        break;
      }
      case 'Clip': {
        let lo = -Infinity;
        let hi = Infinity;
        if (this.opset < 11) {
          lo = a.float('min', -Infinity);
          hi = a.float('max', Infinity);
        } else {
          const read = (idx: number, dflt: number): number => {
            const name = inputs[idx];
            if (!name) return dflt;
            const v = scalarOf(this.constValue(name));
            if (v === undefined) this.problem(n, `${idx === 1 ? 'min' : 'max'} input '${name}' must be a constant scalar`);
            return v ?? dflt;
          };
          lo = read(1, -Infinity);
          hi = read(2, Infinity);
          inputs.length = 1;
        }
        attrs = { min: lo, max: hi };
        break;
      }
      case 'HardSigmoid':
        attrs = { alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) };
        break;
      case 'Concat': {
        const axis = a.int('axis', NaN);
        if (Number.isNaN(axis)) this.problem(n, 'axis is required');
        attrs = { axis };
        break;
      }
      case 'Flatten':
        attrs = { axis: a.int('axis', 1) };
        break;
      case 'Reshape': {
        const spec = this.reshapeSpec(n, inputs[0], inputs[1]);
        inputs.length = 1;
        if (!spec) break;
        attrs = { shape: spec };
        if (this.opset >= 14 && a.int('allowzero', 0) === 1 && spec.includes(0)) attrs.allowzero = 1;
        break;
      }
      case 'Transpose': {
        const perm = a.ints('perm') ?? (this.shapes.get(inputs[0]) ? this.shapes.get(inputs[0])!.map((_, i, s) => s.length - 1 - i) : undefined);
        if (perm) attrs = { perm };
        break;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        let axes: number[] | undefined;
        if (this.opset < 13) {
          axes = a.ints('axes');
          if (op === 'Unsqueeze' && !axes) this.problem(n, 'axes is required');
        } else if (inputs[1]) {
          axes = this.constInts(inputs[1]);
          if (!axes) this.problem(n, `axes input '${inputs[1]}' must be constant`);
        } else if (op === 'Unsqueeze') this.problem(n, 'axes input is required');
        inputs.length = 1;
        if (axes) attrs = { axes };
        break;
      }
      case 'Pad': {
        const mode = a.str('mode', 'constant');
        if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') this.problem(n, `mode '${mode}' is not supported`);
        let pads: number[] | undefined;
        let value = 0;
        if (this.opset < 11) {
          pads = a.ints('pads');
          value = a.float('value', 0);
        } else {
          pads = inputs[1] ? this.constInts(inputs[1]) : undefined;
          if (inputs[2]) {
            const v = scalarOf(this.constValue(inputs[2]));
            if (v === undefined) this.problem(n, `constant_value input '${inputs[2]}' must be a constant scalar`);
            value = v ?? 0;
          }
          inputs.length = 1;
        }
        inputs.length = 1;
        if (!pads) {
          this.problem(n, 'pads must be constant');
          break;
        }
        // value only matters in constant mode; dropping it elsewhere keeps one canonical form.
        attrs = { pads, mode, value: mode === 'constant' ? value : 0 };
        break;
      }
      case 'Softmax': {
        if (this.opset >= 13) {
          attrs = { axis: a.int('axis', -1) };
          break;
        }
        // Before opset 13 Softmax flattens to 2-D at `axis` and normalizes over everything after:
        // that is our single-axis Softmax only when nothing but the axis itself lies after it.
        const axis = a.int('axis', 1);
        const x = this.shapes.get(inputs[0]);
        if (!x) {
          this.problem(n, `cannot tell the input rank, needed to map opset-${this.opset} Softmax (axis ${axis}) to a single axis`);
          break;
        }
        const ax = axis < 0 ? axis + x.length : axis;
        if (ax < 0 || ax >= x.length) this.problem(n, `axis ${axis} out of range for rank ${x.length}`);
        else if (!x.slice(ax + 1).every((d) => d === 1)) {
          this.problem(n, `opset-${this.opset} Softmax over axes ${ax}..${x.length - 1} of a rank-${x.length} input has no single-axis equivalent`);
        }
        attrs = { axis };
        break;
      }
      case 'Dropout': {
        if (this.opset >= 12 && inputs[2]) {
          const tm = scalarOf(this.constValue(inputs[2]));
          if (tm !== 0) this.problem(n, 'training_mode must be constant false');
        }
        dropExtraOutputs('mask');
        newOp = 'Identity';
        inputs.length = 1;
        break;
      }
      default:
        // Relu, Sigmoid, HardSwish, Tanh, Erf, Add/Sub/Mul/Div, MatMul, GlobalAveragePool, Identity: no attributes
        break;
    }
    const ar = ARITY[newOp] ?? [1, 1];
    if (inputs.length < ar[0] || inputs.length > ar[1] || inputs.slice(0, ar[0]).includes('')) {
      this.problem(n, `expects ${ar[0] === ar[1] ? ar[0] : `${ar[0]}–${ar[1]}`} inputs, has ${inputs.length}`);
    }
    if (!outputs[0]) this.problem(n, 'first output has no name');
    n.op = newOp;
    n.inputs = inputs;
    n.outputs = outputs;
    n.attrs = attrs;
    n.normal = true;
  }

  /** outputs dropped in normalization (training statistics, masks, indices): an error only if read */
  private readonly extraOutputs = new Map<string, string>();

  /** strides/pads/dilations for Conv and pools, with auto_pad resolved to explicit pads. */
  private window(
    n: WNode,
    a: AttrReader,
    kernel: readonly number[],
    input: string,
    withDilations: boolean,
  ): { strides: number[]; pads: number[]; dilations?: number[] } {
    const k = kernel.length;
    const ones = kernel.map(() => 1);
    const strides = a.ints('strides') ?? ones;
    const dilations = n.op === 'Conv' || withDilations ? (a.ints('dilations') ?? ones) : undefined;
    let pads = a.ints('pads') ?? [...kernel.map(() => 0), ...kernel.map(() => 0)];
    if (strides.length !== k) this.problem(n, `strides has ${strides.length} entries for a ${k}-D kernel`);
    if (dilations && dilations.length !== k) this.problem(n, `dilations has ${dilations.length} entries for a ${k}-D kernel`);
    if (pads.length !== 2 * k) this.problem(n, `pads has ${pads.length} entries for a ${k}-D kernel`);
    const autoPad = a.str('auto_pad', 'NOTSET');
    if (autoPad === 'VALID') pads = [...kernel.map(() => 0), ...kernel.map(() => 0)];
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const x = this.shapes.get(input);
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
            this.problem(n, `auto_pad ${autoPad} with stride ${s} needs the input's spatial size, which is not known statically`);
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
    } else if (autoPad !== 'NOTSET') this.problem(n, `auto_pad '${autoPad}' is not valid`);
    return dilations ? { strides, pads, dilations } : { strides, pads };
  }

  private reshapeSpec(n: WNode, data: string | undefined, shapeName: string | undefined): number[] | undefined {
    if (!shapeName) {
      this.problem(n, 'shape input is required');
      return undefined;
    }
    const s = this.getSym(shapeName);
    if (!s) {
      this.problem(n, `shape input '${shapeName}' is not constant (and not a foldable shape computation)`);
      return undefined;
    }
    const x = data ? this.shapes.get(data) : undefined;
    const spec: number[] = [];
    for (let i = 0; i < s.entries.length; i++) {
      const e = s.entries[i];
      if (typeof e === 'number') spec.push(e);
      else if (e.t === data && e.d === i) spec.push(0); // "copy this dim" is exactly ONNX's 0
      else {
        const known = this.shapes.get(e.t)?.[e.d] ?? -1;
        if (known >= 0) spec.push(known);
        else if (x && x[i] === -1 && e.d === 0 && i === 0 && this.sameBatch(e.t, data)) spec.push(0);
        else {
          this.problem(n, `shape entry ${i} is dim ${e.d} of '${e.t}', which is dynamic and cannot be expressed as a constant`);
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
  private sameBatch(a: string, b: string | undefined): boolean {
    if (!b) return false;
    const root = (t: string): string => {
      for (let guard = 0; guard < 10000; guard++) {
        const p = this.batchSource.get(t);
        if (p === undefined) return t;
        t = p;
      }
      return t;
    };
    return root(a) === root(b);
  }

  /** output → input for nodes that provably keep dim 0 (see sameBatch) */
  private readonly batchSource = new Map<string, string>();

  private propagateShapes(n: WNode): void {
    if (!n.normal) return;
    const node: Node = { name: n.name, op: n.op as OpType, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs };
    const ins = n.inputs.map((i) => (i === '' ? undefined : (this.shapes.get(i) ?? this.constValue(i)?.shape)));
    let outs: (number[] | undefined)[];
    try {
      outs = partialOutputShapes(node, ins);
    } catch {
      outs = [];
    }
    n.outputs.forEach((o, i) => {
      if (!o) return;
      let s = outs[i];
      if (s && !s.every((d) => Number.isInteger(d) && d >= -1)) s = undefined;
      const vi = this.valueInfo.get(o);
      if (vi && (!s || (s.length === vi.length && s.every((d, j) => d === -1 || vi[j] === -1 || d === vi[j])))) {
        s = vi.map((d, j) => (d >= 0 ? d : (s?.[j] ?? -1)));
      }
      if (s) this.shapes.set(o, s);
    });
    const keepsBatch = [
      'Conv', 'BatchNormalization', 'Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf', 'MaxPool',
      'AveragePool', 'GlobalAveragePool', 'Identity', 'Softmax',
    ];
    if (keepsBatch.includes(n.op) && n.outputs[0] && n.inputs[0]) this.batchSource.set(n.outputs[0], n.inputs[0]);
  }

  // -------------------------------------------------------------------------------------------
  // fusion

  private fuse(nodes: WNode[], graphOutputs: Set<string>): WNode[] {
    const removed = new Set<WNode>();
    const replaced = new Map<WNode, WNode>();
    const producer = new Map<string, WNode>();
    const consumers = new Map<string, WNode[]>();
    for (const n of nodes) {
      for (const o of n.outputs) if (o) producer.set(o, n);
      for (const i of n.inputs) {
        if (!i) continue;
        const list = consumers.get(i);
        if (list) list.push(n);
        else consumers.set(i, [n]);
      }
    }
    const live = (n: WNode | undefined): n is WNode => !!n && n.normal && !removed.has(n) && !replaced.has(n);
    /** the single live consumer of t, if t has exactly one use and is not a graph output */
    const only = (t: string, op: string): WNode | undefined => {
      if (graphOutputs.has(t)) return undefined;
      const c = consumers.get(t);
      if (!c || c.length !== 1 || !live(c[0]) || c[0].op !== op) return undefined;
      // x*x style nodes read t twice: that is two uses
      if (c[0].inputs.filter((i) => i === t).length !== 1) return undefined;
      return c[0];
    };
    const prod = (t: string, op: string): WNode | undefined => {
      const p = producer.get(t);
      return live(p) && p.op === op ? p : undefined;
    };
    const other = (n: WNode, t: string): string | undefined => (n.inputs[0] === t ? n.inputs[1] : n.inputs[1] === t ? n.inputs[0] : undefined);
    const k = (t: string | undefined): number | undefined => {
      if (!t) return undefined;
      const c = this.consts.get(t);
      return c && c.dtype === 'float32' ? scalarOf(c) : undefined;
    };
    const singleUse = (t: string): boolean => !graphOutputs.has(t) && (consumers.get(t)?.length ?? 0) === 1;

    /** from `t` = 1 + erf(...)/tanh(...): the nodes computing x·t·0.5 in any of the usual orders */
    const tail = (x: string, t: string): { nodes: WNode[]; last: WNode } | undefined => {
      const c1 = only(t, 'Mul');
      if (!c1) return undefined;
      const o = other(c1, t)!;
      if (o === x) {
        const c2 = only(c1.outputs[0], 'Mul');
        if (c2 && k(other(c2, c1.outputs[0])) === 0.5) return { nodes: [c1, c2], last: c2 };
        return undefined;
      }
      if (k(o) === 0.5) {
        const c2 = only(c1.outputs[0], 'Mul');
        if (c2 && other(c2, c1.outputs[0]) === x) return { nodes: [c1, c2], last: c2 };
        return undefined;
      }
      const h = prod(o, 'Mul');
      if (h && singleUse(o) && ((h.inputs[0] === x && k(h.inputs[1]) === 0.5) || (h.inputs[1] === x && k(h.inputs[0]) === 0.5))) {
        return { nodes: [h, c1], last: c1 };
      }
      return undefined;
    };
    const plusOne = (t: string): WNode | undefined => {
      const add = only(t, 'Add');
      return add && k(other(add, t)) === 1 ? add : undefined;
    };
    const replace = (matched: WNode[], last: WNode, op: OpType, input: string, attrs: Record<string, AttrValue>) => {
      for (const m of matched) if (m !== last) removed.add(m);
      replaced.set(last, { name: last.name, op, domain: '', inputs: [input], outputs: [last.outputs[0]], attrs, attrErrors: [], normal: true });
    };

    for (const n of nodes) {
      if (!live(n)) continue;
      if (n.op === 'Erf') {
        // x / √2 (or x · 1/√2) → Erf → + 1 → · x · 0.5
        const u = prod(n.inputs[0], 'Div') ?? prod(n.inputs[0], 'Mul');
        if (!u || !singleUse(n.inputs[0])) continue;
        let x: string | undefined;
        if (u.op === 'Div' && near(k(u.inputs[1]), Math.SQRT2)) x = u.inputs[0];
        else if (u.op === 'Mul' && near(k(u.inputs[1]), Math.SQRT1_2)) x = u.inputs[0];
        else if (u.op === 'Mul' && near(k(u.inputs[0]), Math.SQRT1_2)) x = u.inputs[1];
        if (!x) continue;
        const add = plusOne(n.outputs[0]);
        const t = add && tail(x, add.outputs[0]);
        if (add && t) replace([u, n, add, ...t.nodes], t.last, 'Gelu', x, { approximate: 'none' });
      } else if (n.op === 'Tanh') {
        // x + 0.044715·x³ → · √(2/π) → Tanh → + 1 → · x · 0.5
        const scaled = prod(n.inputs[0], 'Mul');
        if (!scaled || !singleUse(n.inputs[0])) continue;
        const c = near(k(scaled.inputs[1]), Math.sqrt(2 / Math.PI)) ? 1 : near(k(scaled.inputs[0]), Math.sqrt(2 / Math.PI)) ? 0 : -1;
        if (c < 0) continue;
        const wName = scaled.inputs[1 - c];
        const w = prod(wName, 'Add');
        if (!w || !singleUse(wName)) continue;
        let match: { x: string; nodes: WNode[] } | undefined;
        for (const xi of [0, 1]) {
          const x = w.inputs[xi];
          const mName = w.inputs[1 - xi];
          const m = prod(mName, 'Mul');
          if (!m || !singleUse(mName)) continue;
          const cubeName = near(k(m.inputs[1]), 0.044715) ? m.inputs[0] : near(k(m.inputs[0]), 0.044715) ? m.inputs[1] : undefined;
          if (!cubeName || !singleUse(cubeName)) continue;
          const cube = this.cubeOf(prod(cubeName, 'Mul') ?? producer.get(cubeName), x, prod, singleUse);
          if (cube) {
            match = { x, nodes: [m, ...cube] };
            break;
          }
        }
        if (!match) continue;
        const add = plusOne(n.outputs[0]);
        const t = add && tail(match.x, add.outputs[0]);
        if (add && t) replace([...match.nodes, w, scaled, n, add, ...t.nodes], t.last, 'Gelu', match.x, { approximate: 'tanh' });
      }
    }
    for (const n of nodes) {
      if (!live(n)) continue;
      const isSig = n.op === 'Sigmoid';
      const isHardSig = n.op === 'HardSigmoid' && n.attrs.alpha === Math.fround(1 / 6) && n.attrs.beta === 0.5;
      if (!isSig && !isHardSig) continue;
      const x = n.inputs[0];
      const mul = only(n.outputs[0], 'Mul');
      if (mul && other(mul, n.outputs[0]) === x) replace([n, mul], mul, isSig ? 'Swish' : 'HardSwish', x, {});
    }
    const out: WNode[] = [];
    for (const n of nodes) {
      if (removed.has(n)) continue;
      out.push(replaced.get(n) ?? n);
    }
    return out;
  }

  /** Nodes computing x³ as Pow(x, 3), (x·x)·x or x·(x·x); undefined when `p` is not that. */
  private cubeOf(
    p: WNode | undefined,
    x: string,
    prod: (t: string, op: string) => WNode | undefined,
    singleUse: (t: string) => boolean,
  ): WNode[] | undefined {
    if (!p) return undefined;
    if (p.op === 'Pow' && p.domain === '' && p.inputs[0] === x && scalarOf(this.constValue(p.inputs[1] ?? '')) === 3) return [p];
    if (p.op !== 'Mul' || !p.normal) return undefined;
    const sqName = p.inputs[0] === x ? p.inputs[1] : p.inputs[1] === x ? p.inputs[0] : undefined;
    if (!sqName) return undefined;
    const sq = prod(sqName, 'Mul');
    if (sq && singleUse(sqName) && sq.inputs[0] === x && sq.inputs[1] === x) return [p, sq];
    return undefined;
  }

  /** Drops nodes whose outputs nothing reads (folded shape chains leave such nodes behind). */
  private prune(nodes: WNode[], graphOutputs: Set<string>): WNode[] {
    const needed = new Set(graphOutputs);
    const keep: boolean[] = new Array(nodes.length).fill(false);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      if (!n.outputs.some((o) => o && needed.has(o))) continue;
      keep[i] = true;
      for (const inp of n.inputs) if (inp) needed.add(inp);
    }
    return nodes.filter((_, i) => keep[i]);
  }
}

/** Typed, opset-aware reading of a raw node's attributes; type mismatches become problems. */
class AttrReader {
  constructor(
    private readonly n: WNode,
    private readonly opset: number,
    private readonly problems: ModelProblem[],
  ) {}
  has(k: string): boolean {
    return k in this.n.attrs;
  }
  private bad(k: string, want: string): void {
    this.problems.push({ node: this.n.name, op: this.n.op, opset: this.opset, message: `attribute '${k}' should be ${want}` });
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

export interface ImportOptions {
  /**
   * Graph inputs to bind to constant values (they become initializers). For models that feed
   * operands such as Reshape's shape or Clip's bounds as inputs, as ONNX's conformance tests do.
   */
  constInputs?: ReadonlyMap<string, Tensor>;
}

/** Imports an ONNX model (bytes of a ModelProto). `file` only labels errors and provenance. */
export function importOnnx(bytes: Uint8Array, file?: string, options: ImportOptions = {}): Graph {
  let model: PModel;
  try {
    model = ModelProto.decode(bytes) as unknown as PModel;
  } catch (e) {
    throw new ModelError([{ node: '', message: `not a valid ONNX model (protobuf decoding failed: ${(e as Error).message})` }], file);
  }
  return new Importer(model, file, options).run();
}

export function loadOnnx(path: string, options: ImportOptions = {}): Graph {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ModelError([{ node: '', message: `cannot read: ${(e as Error).message}` }], path);
  }
  return importOnnx(bytes, path, options);
}
