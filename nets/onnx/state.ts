/**
 * The ONNX importer's working state, shared by its stages (decode.ts, fold.ts, normalize.ts,
 * fuse.ts; import.ts runs them): the nodes while they are rewritten, the constants and the
 * symbolically tracked int vectors, the partial shapes known so far, and every problem found.
 */
import { ModelError, type ModelProblem } from '../errors.js';
import type { AttrValue, Tensor, ValueInfo } from '../graph.js';
import type { Shape } from '../shapes.js';
import type { RawNode } from './decode.js';

/** A node while importing: raw ONNX (op/attrs as in the file) until `normal` is set. */
export interface WNode extends RawNode {
  normal: boolean;
  /** for raw nodes left in the graph: why they could not be imported */
  why?: string;
}

/** One entry of a symbolically tracked int vector: a known value or "dim d of tensor t". */
export type SymEntry = number | { t: string; d: number };
export interface Sym {
  entries: SymEntry[];
  scalar: boolean;
  dtype: 'int64' | 'int32';
}

export const MAX_SYM_LEN = 64;

export interface ImportOptions {
  /**
   * Graph inputs to bind to constant values (they become initializers). For models that feed
   * operands such as Reshape's shape or Clip's bounds as inputs, as ONNX's conformance tests do.
   */
  constInputs?: ReadonlyMap<string, Tensor>;
  /**
   * Graph inputs to bind to a shape (-1 keeps a dim dynamic): dynamic dims of the file's input
   * become these, so that shape computations depending on them fold to constants. A dim the file
   * fixes must be bound to the same value (or -1).
   */
  inputShapes?: ReadonlyMap<string, readonly number[]>;
}

export function isInt(v: number): boolean {
  return Number.isSafeInteger(v);
}

export function intValues(t: Tensor): number[] | undefined {
  if (t.dtype === 'float32') return undefined;
  const out: number[] = [];
  for (let i = 0; i < t.data.length; i++) {
    const v = Number(t.data[i]);
    if (!isInt(v)) return undefined;
    out.push(v);
  }
  return out;
}

export function asInts(v: AttrValue | undefined): number[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && isInt(x)) ? (v as number[]) : undefined;
}

export function scalarOf(t: Tensor | undefined): number | undefined {
  if (!t || t.data.length !== 1) return undefined;
  return Number(t.data[0]);
}

export function int64Tensor(values: readonly number[], scalar: boolean): Tensor {
  return { dtype: 'int64', shape: scalar ? [] : [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

/**
 * Every problem an importer finds, collected so that one ModelError lists them all; `opset` (the
 * default-domain opset) labels the problems of nodes. The ONNX importers' states extend it.
 */
export class ProblemLog {
  readonly problems: ModelProblem[] = [];
  /** the default-domain opset */
  opset = 0;

  constructor(readonly file: string | undefined) {}

  fail(): never {
    throw new ModelError(this.problems, this.file);
  }

  problem(n: { name: string; op: string } | null, message: string): void {
    if (n) this.problems.push({ node: n.name, op: n.op, opset: this.opset, message });
    else this.problems.push({ node: '', message });
  }
}

export class ImportState extends ProblemLog {
  readonly consts = new Map<string, Tensor>();
  /** constants that failed to load: reported only if something still reads them */
  readonly badConsts = new Map<string, string>();
  readonly syms = new Map<string, Sym>();
  readonly shapes = new Map<string, Shape>();
  readonly graphInputs = new Map<string, ValueInfo>();
  /** shapes from the file's value_info: they fill in what partial propagation cannot */
  readonly valueInfo = new Map<string, Shape>();
  readonly domainOpset = new Map<string, number>();
  /** outputs dropped in normalization (training statistics, masks, indices): an error only if read */
  readonly extraOutputs = new Map<string, string>();
  /** output → input for nodes that provably keep dim 0 (see normalize.ts sameBatch) */
  readonly batchSource = new Map<string, string>();

  constructor(
    file: string | undefined,
    readonly options: ImportOptions,
  ) {
    super(file);
  }

  /** Whether `t` is an initializer, a graph input or a constant that failed to load. */
  isSource(t: string): boolean {
    return this.consts.has(t) || this.badConsts.has(t) || this.graphInputs.has(t);
  }

  /** A constant's value, materializing a fully known symbolic vector as an int tensor. */
  constValue(name: string): Tensor | undefined {
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

  constInts(name: string): number[] | undefined {
    const t = this.constValue(name);
    return t ? intValues(t) : undefined;
  }

  /** The symbolic int vector `name` holds: tracked, or a small int constant of rank ≤ 1. */
  getSym(name: string): Sym | undefined {
    if (name === '') return undefined;
    const s = this.syms.get(name);
    if (s) return s;
    const t = this.consts.get(name);
    if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32') || t.shape.length > 1 || t.data.length > MAX_SYM_LEN) return undefined;
    const v = intValues(t);
    return v ? { entries: v, scalar: t.shape.length === 0, dtype: t.dtype } : undefined;
  }

  setSym(name: string, s: Sym): void {
    this.syms.set(name, s);
    this.shapes.set(name, s.scalar ? [] : [s.entries.length]);
  }

  setConst(name: string, t: Tensor): void {
    this.consts.set(name, t);
    this.shapes.set(name, t.shape);
  }
}
