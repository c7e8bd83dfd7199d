/**
 * Network IR → ONNX bytes that onnxruntime-node loads and runs.
 *
 * The exporter writes exactly the forms the importer reads back (import.ts), so
 * import → export → import is a fixed point:
 *   - normalized operands go back to where the target opset wants them: Clip min/max (≥11),
 *     Pad pads/constant_value (≥11), Reshape shape, Squeeze/Unsqueeze axes (≥13) become int64 /
 *     float32 initializer inputs; ±Infinity Clip bounds are simply omitted;
 *   - fused ops are decomposed into the patterns the importer fuses: Gelu into
 *     Div/Erf/Add/Mul/Mul (or the x³/Tanh form), Swish into Sigmoid·x, HardSwish — when the
 *     opset predates it (14) — into HardSigmoid(1/6, 1/2)·x, and LayerNormalization — before
 *     opset 17 — into ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add. The last Mul keeps the fused node's
 *     name, so the re-imported node is named as before.
 * Attributes are written as given (absent ones take ONNX defaults in any consumer); an attribute
 * that is not ONNX's for that op and opset is a ModelError, collected for all nodes at once.
 */
import { ModelError, type ModelProblem } from '../errors.js';
import { clipChannelMax, OP_TYPES, type AttrValue, type DType, type Graph, type Node, type Tensor, type ValueInfo } from '../graph.js';
import { MAX_OPSET, MIN_OPSET } from './decode.js';
import { partialShapes, type Shape } from '../shapes.js';
import { AttrType, ModelProto, type PNodeOut } from './schema.js';
import { dtypeToOnnx, tensorToProto } from './tensor.js';

export interface ExportOptions {
  /** default-domain opset to target (9–17); default: defaultExportOpset(graph) */
  opset?: number;
}

type Kind = 'i' | 'f' | 's' | 'ints' | 'floats';

/** Attributes written through unchanged, with the first opset that has them (default MIN_OPSET). */
const PASS_THROUGH: Partial<Record<string, Record<string, [Kind, number?]>>> = {
  Conv: { kernel_shape: ['ints'], strides: ['ints'], pads: ['ints'], dilations: ['ints'], group: ['i'], auto_pad: ['s'] },
  Gemm: { alpha: ['f'], beta: ['f'], transA: ['i'], transB: ['i'] },
  BatchNormalization: { epsilon: ['f'], momentum: ['f'] },
  HardSigmoid: { alpha: ['f'], beta: ['f'] },
  Concat: { axis: ['i'] },
  Flatten: { axis: ['i'] },
  Softmax: { axis: ['i'] },
  LayerNormalization: { axis: ['i'], epsilon: ['f'] },
  ReduceMean: { axes: ['ints'], keepdims: ['i'] },
  Transpose: { perm: ['ints'] },
  MaxPool: {
    kernel_shape: ['ints'],
    strides: ['ints'],
    pads: ['ints'],
    dilations: ['ints', 10],
    ceil_mode: ['i', 10],
    storage_order: ['i'],
    auto_pad: ['s'],
  },
  AveragePool: { kernel_shape: ['ints'], strides: ['ints'], pads: ['ints'], ceil_mode: ['i', 10], count_include_pad: ['i'], auto_pad: ['s'] },
};

/** what an absent attribute means, for dropping attributes the target opset lacks */
const DEFAULT_OF: Record<string, (v: AttrValue) => boolean> = {
  dilations: (v) => Array.isArray(v) && v.every((d) => d === 1),
  ceil_mode: (v) => v === 0,
};

const IR_FOR_OPSET: Record<number, number> = { 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8 };

const utf8 = new TextEncoder();

function attrProto(name: string, kind: Kind, v: AttrValue): Record<string, unknown> | undefined {
  switch (kind) {
    case 'i':
      return typeof v === 'number' && Number.isSafeInteger(v) ? { name, type: AttrType.INT, i: v } : undefined;
    case 'f':
      return typeof v === 'number' ? { name, type: AttrType.FLOAT, f: v } : undefined;
    case 's':
      return typeof v === 'string' ? { name, type: AttrType.STRING, s: utf8.encode(v) } : undefined;
    case 'ints':
      return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x)) ? { name, type: AttrType.INTS, ints: [...v] } : undefined;
    case 'floats':
      return Array.isArray(v) && v.every((x) => typeof x === 'number') ? { name, type: AttrType.FLOATS, floats: [...v] } : undefined;
  }
}

function valueInfoProto(v: ValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: dtypeToOnnx(v.dtype),
        // an empty Dimension is ONNX's "unknown": no invented dim_param names that could alias
        shape: { dim: v.shape.map((d) => (d >= 0 ? { dim_value: d } : {})) },
      },
    },
  };
}

class Exporter {
  private readonly problems: ModelProblem[] = [];
  private readonly taken = new Set<string>();
  private readonly nodes: PNodeOut[] = [];
  private readonly inits: Record<string, unknown>[] = [];
  private shapes?: Map<string, Shape>;

  constructor(
    private readonly graph: Graph,
    private readonly opset: number,
  ) {
    for (const v of graph.inputs) this.taken.add(v.name);
    for (const v of graph.outputs) this.taken.add(v.name);
    for (const k of graph.initializers.keys()) this.taken.add(k);
    for (const n of graph.nodes) {
      this.taken.add(n.name);
      for (const t of n.inputs) this.taken.add(t);
      for (const t of n.outputs) this.taken.add(t);
    }
  }

  private fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  private problem(n: Node, message: string): void {
    this.problems.push({ node: n.name, op: n.op, opset: this.opset, message });
  }

  private constInit(base: string, t: Tensor): string {
    const name = this.fresh(base);
    this.inits.push(tensorToProto(t, name));
    return name;
  }
  private f32(base: string, v: number): string {
    return this.constInit(base, { dtype: 'float32', shape: [], data: Float32Array.of(v) });
  }
  private scalar(base: string, dtype: DType, v: number): string {
    const data =
      dtype === 'int8' ? Int8Array.of(v) : dtype === 'uint8' ? Uint8Array.of(v) : dtype === 'int32' ? Int32Array.of(v) : dtype === 'int64' ? BigInt64Array.of(BigInt(v)) : Float32Array.of(v);
    return this.constInit(base, { dtype, shape: [], data });
  }
  private dtypeOf(t: string): DType {
    return this.graph.inputs.find((v) => v.name === t)?.dtype ?? this.graph.initializers.get(t)?.dtype ?? 'float32';
  }
  private i64(base: string, v: readonly number[]): string {
    return this.constInit(base, { dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map((x) => BigInt(x))) });
  }

  private emit(name: string, op: string, input: string[], output: string[], attribute: Record<string, unknown>[] = []): void {
    this.nodes.push({ name, op_type: op, domain: '', input, output, attribute });
  }

  private ints(n: Node, key: string): number[] | undefined {
    const v = n.attrs[key];
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) return [...(v as number[])];
    this.problem(n, `attribute '${key}' should be a list of ints`);
    return undefined;
  }
  private num(n: Node, key: string, dflt: number): number {
    const v = n.attrs[key];
    if (v === undefined) return dflt;
    if (typeof v === 'number') return v;
    this.problem(n, `attribute '${key}' should be a number`);
    return dflt;
  }
  private onlyAttrs(n: Node, allowed: readonly string[]): void {
    for (const k of Object.keys(n.attrs)) if (!allowed.includes(k)) this.problem(n, `attribute '${k}' is not an ONNX attribute of ${n.op}`);
  }

  private rank(t: string): number | undefined {
    this.shapes ??= partialShapes(this.graph);
    return this.shapes.get(t)?.length;
  }

  run(): Uint8Array {
    const g = this.graph;
    if (!(this.opset >= MIN_OPSET && this.opset <= MAX_OPSET)) {
      throw new ModelError([{ node: '', opset: this.opset, message: `cannot export to opset ${this.opset} (supported: ${MIN_OPSET}–${MAX_OPSET})` }]);
    }
    for (const [name, t] of g.initializers) {
      try {
        this.inits.push(tensorToProto(t, name));
      } catch (e) {
        if (!(e instanceof ModelError)) throw e;
        this.problems.push(...e.problems);
      }
    }
    for (const n of g.nodes) this.node(n);
    if (this.problems.length) throw new ModelError(this.problems);

    const metadata = Object.entries(g.meta ?? {}).map(([key, value]) => ({ key, value }));
    const model = {
      ir_version: IR_FOR_OPSET[this.opset],
      opset_import: [{ domain: '', version: this.opset }],
      producer_name: 'qloom',
      producer_version: '0.1.0',
      graph: {
        name: g.name,
        node: this.nodes,
        initializer: this.inits,
        input: g.inputs.map(valueInfoProto),
        output: g.outputs.map(valueInfoProto),
      },
      metadata_props: metadata,
    };
    return ModelProto.encode(model).finish();
  }

  private node(n: Node): void {
    if (!(OP_TYPES as readonly string[]).includes(n.op)) {
      this.problem(n, `op ${n.op} is not in the qloom op set`);
      return;
    }
    const x = n.inputs[0];
    const y = n.outputs[0];
    const opset = this.opset;
    switch (n.op) {
      case 'Clip': {
        this.onlyAttrs(n, ['min', 'max', 'channelMax']);
        const lo = this.num(n, 'min', -Infinity);
        const his = clipChannelMax(n);
        // per-channel bounds (qloom's extension): Clip at the scalar bounds into a fresh tensor, then
        // Min with the bounds shaped [1, C, 1, …] — ONNX's Min broadcasts, its Clip does not
        const hi = his ? Infinity : this.num(n, 'max', Infinity);
        const yClip = his ? this.fresh(`${y}/clipped`) : y;
        const rank = his ? this.rank(x) : undefined;
        if (his && (rank === undefined || rank < 2)) this.problem(n, 'per-channel Clip bounds need an input of known rank ≥ 2');
        if (opset < 11) {
          const attrs: Record<string, unknown>[] = [];
          if (lo !== -Infinity) attrs.push({ name: 'min', type: AttrType.FLOAT, f: lo });
          if (hi !== Infinity) attrs.push({ name: 'max', type: AttrType.FLOAT, f: hi });
          this.emit(n.name, 'Clip', [x], [yClip], attrs);
        } else {
          // The bounds share the input's element type (T); only graph inputs/initializers can be other than float32.
          const dt = this.dtypeOf(x);
          const bound = (s: string, v: number) => (dt === 'float32' ? this.f32(`${n.name}/${s}`, v) : this.scalar(`${n.name}/${s}`, dt, v));
          const ins = [x, lo === -Infinity ? '' : bound('min', lo)];
          if (hi !== Infinity) ins.push(bound('max', hi));
          while (ins[ins.length - 1] === '') ins.pop();
          this.emit(n.name, 'Clip', ins, [yClip]);
        }
        if (his && rank !== undefined && rank >= 2) {
          const shape = [1, his.length, ...new Array<number>(rank - 2).fill(1)];
          this.emit(`${n.name}/channel_max`, 'Min', [yClip, this.constInit(`${n.name}/channel_max`, { dtype: 'float32', shape, data: his })], [y]);
        }
        return;
      }
      case 'Reshape': {
        this.onlyAttrs(n, ['shape', 'allowzero']);
        const shape = this.ints(n, 'shape');
        if (!shape) {
          this.problem(n, 'attribute shape is required');
          return;
        }
        const attrs: Record<string, unknown>[] = [];
        if (this.num(n, 'allowzero', 0) !== 0) {
          if (opset < 14) this.problem(n, 'allowzero=1 needs opset 14');
          attrs.push({ name: 'allowzero', type: AttrType.INT, i: 1 });
        }
        this.emit(n.name, 'Reshape', [x, this.i64(`${n.name}/shape`, shape)], [y], attrs);
        return;
      }
      case 'Pad': {
        this.onlyAttrs(n, ['pads', 'mode', 'value']);
        const pads = this.ints(n, 'pads');
        if (!pads) {
          this.problem(n, 'attribute pads is required');
          return;
        }
        const modeV = n.attrs.mode ?? 'constant';
        const mode = typeof modeV === 'string' ? modeV : 'constant';
        const value = this.num(n, 'value', 0);
        const modeAttr = { name: 'mode', type: AttrType.STRING, s: utf8.encode(mode) };
        if (opset < 11) {
          const attrs: Record<string, unknown>[] = [modeAttr, { name: 'pads', type: AttrType.INTS, ints: pads }];
          if (mode === 'constant' && value !== 0) attrs.push({ name: 'value', type: AttrType.FLOAT, f: value });
          this.emit(n.name, 'Pad', [x], [y], attrs);
        } else {
          const ins = [x, this.i64(`${n.name}/pads`, pads)];
          if (mode === 'constant' && value !== 0) ins.push(this.f32(`${n.name}/value`, value));
          this.emit(n.name, 'Pad', ins, [y], [modeAttr]);
        }
        return;
      }
      case 'Resize': {
        // graph.ts's one form: nearest, integer factors, output y reads input ⌊y/s⌋ — in ONNX's
        // terms asymmetric coordinates rounded down (opset 9's Upsample and 10's Resize only rule)
        this.onlyAttrs(n, ['mode', 'scales']);
        const f = this.ints(n, 'scales');
        if (!f) {
          this.problem(n, 'attribute scales is required');
          return;
        }
        const scales = this.constInit(`${n.name}/scales`, { dtype: 'float32', shape: [f.length], data: Float32Array.from(f) });
        const mode = { name: 'mode', type: AttrType.STRING, s: utf8.encode('nearest') };
        // opset 9 has Upsample with the same rule
        if (opset === 9) this.emit(n.name, 'Upsample', [x, scales], [y], [mode]);
        else if (opset === 10) this.emit(n.name, 'Resize', [x, scales], [y], [mode]);
        else
          // roi is optional only from opset 13
          this.emit(n.name, 'Resize', [x, opset < 13 ? this.constInit(`${n.name}/roi`, { dtype: 'float32', shape: [0], data: new Float32Array(0) }) : '', scales], [y], [
            mode,
            { name: 'coordinate_transformation_mode', type: AttrType.STRING, s: utf8.encode('asymmetric') },
            { name: 'nearest_mode', type: AttrType.STRING, s: utf8.encode('floor') },
          ]);
        return;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        this.onlyAttrs(n, ['axes']);
        const axes = this.ints(n, 'axes');
        if (n.op === 'Unsqueeze' && !axes) this.problem(n, 'attribute axes is required');
        const has = axes && axes.length > 0;
        if (opset < 13) this.emit(n.name, n.op, [x], [y], has ? [{ name: 'axes', type: AttrType.INTS, ints: axes }] : []);
        else this.emit(n.name, n.op, has ? [x, this.i64(`${n.name}/axes`, axes!)] : [x], [y]);
        return;
      }
      case 'Gelu': {
        this.onlyAttrs(n, ['approximate']);
        const approx = n.attrs.approximate ?? 'none';
        const t = (s: string) => this.fresh(`${n.name}/${s}`);
        if (approx === 'tanh') {
          const [sq, cube, m, w, u, v, a, b] = ['sq', 'cube', 'cube_scaled', 'inner', 'scaled', 'tanh', 'plus1', 'times_x'].map(t);
          this.emit(this.fresh(`${n.name}/sq`), 'Mul', [x, x], [sq]);
          this.emit(this.fresh(`${n.name}/cube`), 'Mul', [sq, x], [cube]);
          this.emit(this.fresh(`${n.name}/cube_scaled`), 'Mul', [cube, this.f32(`${n.name}/c`, 0.044715)], [m]);
          this.emit(this.fresh(`${n.name}/inner`), 'Add', [x, m], [w]);
          this.emit(this.fresh(`${n.name}/scaled`), 'Mul', [w, this.f32(`${n.name}/sqrt_2_over_pi`, Math.sqrt(2 / Math.PI))], [u]);
          this.emit(this.fresh(`${n.name}/tanh`), 'Tanh', [u], [v]);
          this.emit(this.fresh(`${n.name}/plus1`), 'Add', [v, this.f32(`${n.name}/one`, 1)], [a]);
          this.emit(this.fresh(`${n.name}/times_x`), 'Mul', [x, a], [b]);
          this.emit(n.name, 'Mul', [b, this.f32(`${n.name}/half`, 0.5)], [y]);
        } else if (approx === 'none') {
          const [d, e, a, b] = ['div', 'erf', 'plus1', 'times_x'].map(t);
          this.emit(this.fresh(`${n.name}/div`), 'Div', [x, this.f32(`${n.name}/sqrt2`, Math.SQRT2)], [d]);
          this.emit(this.fresh(`${n.name}/erf`), 'Erf', [d], [e]);
          this.emit(this.fresh(`${n.name}/plus1`), 'Add', [e, this.f32(`${n.name}/one`, 1)], [a]);
          this.emit(this.fresh(`${n.name}/times_x`), 'Mul', [x, a], [b]);
          this.emit(n.name, 'Mul', [b, this.f32(`${n.name}/half`, 0.5)], [y]);
        } else this.problem(n, `approximate '${String(approx)}' is not 'none' or 'tanh'`);
        return;
      }
      case 'Swish': {
        this.onlyAttrs(n, []);
        const s = this.fresh(`${n.name}/sigmoid`);
        this.emit(this.fresh(`${n.name}/sigmoid`), 'Sigmoid', [x], [s]);
        this.emit(n.name, 'Mul', [x, s], [y]);
        return;
      }
      case 'HardSwish': {
        this.onlyAttrs(n, []);
        if (opset >= 14) {
          this.emit(n.name, 'HardSwish', [x], [y]);
          return;
        }
        const s = this.fresh(`${n.name}/hardsigmoid`);
        this.emit(this.fresh(`${n.name}/hardsigmoid`), 'HardSigmoid', [x], [s], [
          { name: 'alpha', type: AttrType.FLOAT, f: 1 / 6 },
          { name: 'beta', type: AttrType.FLOAT, f: 0.5 },
        ]);
        this.emit(n.name, 'Mul', [x, s], [y]);
        return;
      }
      case 'Slice': {
        this.onlyAttrs(n, ['starts', 'ends', 'axes', 'steps']);
        const [starts, ends, axes, steps] = ['starts', 'ends', 'axes', 'steps'].map((k) => this.ints(n, k));
        if (!starts || !ends || !axes || !steps) {
          this.problem(n, 'attributes starts, ends, axes and steps are required');
          return;
        }
        if (opset >= 10) {
          const ins = [x, ...(['starts', 'ends', 'axes', 'steps'] as const).map((k, i) => this.i64(`${n.name}/${k}`, [starts, ends, axes, steps][i]))];
          this.emit(n.name, 'Slice', ins, [y]);
        } else if (steps.some((s) => s !== 1)) this.problem(n, `steps [${steps.join(',')}] need opset 10`);
        else {
          const ints = (name: string, v: readonly number[]) => ({ name, type: AttrType.INTS, ints: [...v] });
          this.emit(n.name, 'Slice', [x], [y], [ints('starts', starts), ints('ends', ends), ints('axes', axes)]);
        }
        return;
      }
      case 'LayerNormalization': {
        this.onlyAttrs(n, ['axis', 'epsilon']);
        if (opset >= 17) break;
        // decomposed as the importer fuses it back (fuse.ts): the statistics over the last −axis axes
        const axis = this.num(n, 'axis', -1);
        const r = this.rank(x);
        const k = axis < 0 ? -axis : r === undefined ? undefined : r - axis;
        if (k === undefined || k < 1) {
          this.problem(n, `LayerNormalization over axis ${axis} of an input of unknown rank cannot be written for opset ${opset}`);
          return;
        }
        const axes = { name: 'axes', type: AttrType.INTS, ints: Array.from({ length: k }, (_, i) => i - k) };
        const t = (s: string) => this.fresh(`${n.name}/${s}`);
        const [mean, d, sq, v, ve, sd, nrm] = ['mean', 'centered', 'squared', 'var', 'var_eps', 'std', 'normalized'].map(t);
        this.emit(t('mean'), 'ReduceMean', [x], [mean], [axes]);
        this.emit(t('centered'), 'Sub', [x, mean], [d]);
        this.emit(t('squared'), 'Pow', [d, this.f32(`${n.name}/two`, 2)], [sq]);
        this.emit(t('var'), 'ReduceMean', [sq], [v], [axes]);
        this.emit(t('var_eps'), 'Add', [v, this.f32(`${n.name}/epsilon`, this.num(n, 'epsilon', Math.fround(1e-5)))], [ve]);
        this.emit(t('std'), 'Sqrt', [ve], [sd]);
        this.emit(t('normalized'), 'Div', [d, sd], [nrm]);
        if (n.inputs[2]) {
          const scaled = t('scaled');
          this.emit(t('scaled'), 'Mul', [nrm, n.inputs[1]], [scaled]);
          this.emit(n.name, 'Add', [scaled, n.inputs[2]], [y]);
        } else this.emit(n.name, 'Mul', [nrm, n.inputs[1]], [y]);
        return;
      }
      case 'Softmax':
        if (n.attrs.coerce2d === 1) {
          // opset 9–12 semantics (graph.ts): the same op there, no single-axis form from 13 on
          this.onlyAttrs(n, ['axis', 'coerce2d']);
          if (opset >= 13) this.problem(n, `Softmax coerced to 2-D at axis ${this.num(n, 'axis', 1)} (opset < 13 semantics) cannot be written for opset ${opset}`);
          else this.emit(n.name, 'Softmax', [x], [y], [{ name: 'axis', type: AttrType.INT, i: this.num(n, 'axis', 1) }]);
          return;
        }
        if (opset < 13) {
          // Pre-13 Softmax coerces to 2-D at `axis`: the same thing only when axis is the last one.
          const axis = this.num(n, 'axis', -1);
          const r = this.rank(x);
          if (axis !== -1 && (r === undefined || (axis < 0 ? axis + r : axis) !== r - 1)) {
            this.problem(n, `Softmax over axis ${axis} of a rank-${r ?? '?'} input cannot be written for opset ${opset} (which flattens the trailing axes)`);
            return;
          }
        }
        break;
      default:
        break;
    }
    const table = PASS_THROUGH[n.op] ?? {};
    const attrs: Record<string, unknown>[] = [];
    for (const [k, v] of Object.entries(n.attrs)) {
      const spec = table[k];
      if (!spec) {
        this.problem(n, `attribute '${k}' is not an ONNX attribute of ${n.op}`);
        continue;
      }
      if ((spec[1] ?? MIN_OPSET) > opset) {
        if (!DEFAULT_OF[k]?.(v)) this.problem(n, `attribute '${k}' needs opset ${spec[1]}`);
        continue;
      }
      const p = attrProto(k, spec[0], v);
      if (p) attrs.push(p);
      else this.problem(n, `attribute '${k}' has the wrong type for ${spec[0]}`);
    }
    if (n.op === 'Gemm' && opset < 11 && !n.inputs[2]) this.problem(n, 'Gemm without C needs opset 11');
    const inputs = [...n.inputs];
    this.emit(n.name, n.op, inputs, [...n.outputs], attrs);
  }
}

/**
 * The opset used when none is asked for: 13, raised to the graph's own opset when that is newer
 * (later op versions widen type support, e.g. uint8 Add needs 14), and to 14 when the graph needs
 * HardSwish or Reshape's allowzero; the graph's own opset (< 13) when it has a Softmax with the
 * older opsets' 2-D coercion.
 */
export function defaultExportOpset(graph: Graph): number {
  const needs14 = graph.nodes.some((n) => n.op === 'HardSwish' || (n.op === 'Reshape' && n.attrs.allowzero === 1));
  const own = Number.isInteger(graph.opset) && graph.opset <= MAX_OPSET ? graph.opset : 13;
  // a Softmax with opset 9–12's semantics (coerce2d) is written as such only before 13
  const coerced = graph.nodes.some((n) => n.op === 'Softmax' && n.attrs.coerce2d === 1);
  if (coerced && !needs14 && own >= MIN_OPSET && own < 13) return own;
  return Math.max(13, own, needs14 ? 14 : 13);
}

/** Serializes a Graph as an ONNX ModelProto. */
export function exportOnnx(graph: Graph, opts: ExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? defaultExportOpset(graph);
  return new Exporter(graph, opset).run();
}
