/**
 * The state of one QOperator / QDQ import (qimport.ts): constants, what is known of every tensor
 * (type, partial shape), the entries read so far (integer layers with the quantization
 * parameters they state for their tensors, and float nodes), and the problems found — with the
 * helpers every reader (qreaders.ts, float-ops.ts), the QDQ fusion (qdq.ts) and the parameter
 * assembly (assemble.ts) share.
 */
import type { DType, Node, Tensor } from '../../nets/graph.js';
import type { RawNode } from '../../nets/onnx/decode.js';
import { ProblemLog } from '../../nets/onnx/state.js';
import type { PModel, PNode } from '../../nets/onnx/schema.js';
import type { QLayer, QWeight } from '../../qnet/network.js';
import { isIntDType } from './common.js';
import { qparamsOf, toI32, type Decl } from './decl.js';

export interface QImportOptions {
  /**
   * Graph inputs to bind to constant values (they become initializers): ONNX's conformance models
   * feed weights, scales and zero points as graph inputs.
   */
  constInputs?: ReadonlyMap<string, Tensor>;
  /**
   * Values of graph inputs that are bound as constants only where the model needs a constant
   * (weights, scales, zero points, biases, shape / axes / bounds operands) and stay graph inputs
   * elsewhere — `qloom exec` and the conformance tests, whose files feed everything as inputs.
   */
  inputValues?: ReadonlyMap<string, Tensor>;
}

/** A node as read from the file, with its protobuf (its attributes go to the float importer as they are). */
export interface RNode extends RawNode {
  proto: PNode;
}

/** An integer layer and the quantization parameters it states for its tensors. */
export interface LayerEntry {
  kind: 'layer';
  layer: QLayer;
  decls: [string, Decl][];
  /** pass-through: these integer tensors carry the same parameters */
  same: [string, string][];
  /** for DQ layers: the integer input and its parameters */
  dq?: { x: string; decl: Decl };
  /** for Q layers: the float input and the output parameters */
  q?: { x: string; decl: Decl };
}
export interface FloatEntry {
  kind: 'float';
  node: Node;
}
export type Entry = LayerEntry | FloatEntry;

interface TInfo {
  dtype: DType;
  /** undefined when even the rank is unknown */
  shape?: number[];
}

export class QImportState extends ProblemLog {
  readonly consts = new Map<string, Tensor>();
  readonly badConsts = new Map<string, string>();
  readonly info = new Map<string, TInfo>();
  /** tensors that could not be produced: consumers stay quiet about them */
  readonly broken = new Set<string>();
  /** float constants that are DequantizeLinear of an integer constant */
  readonly dqOf = new Map<string, { src: string; q: Tensor; decl: Decl }>();
  readonly entries: Entry[] = [];
  readonly graphInputs: { name: string; dtype: DType; shape: number[] }[] = [];
  readonly graphOutputs: string[] = [];
  readonly consumed = new Set<string>();
  /** Cast(int32) outputs of integer activations: LUT indices (gather-lut.ts), `used` once a Gather read one */
  readonly lutIndex = new Map<string, { x: string; node: string; used?: boolean }>();
  /** Gather LUT layers to finish once the parameters are assembled (gather-lut.ts) */
  readonly gatherLuts: { layer: string; x: string; out: string; raw: Int32Array }[] = [];
  /** the com.microsoft opset */
  msOpset = 0;
  irVersion = 8;

  constructor(
    readonly model: PModel,
    file: string | undefined,
    readonly options: QImportOptions,
  ) {
    super(file);
  }

  /** Binds a graph input that has a value in `inputValues` as a constant (see QImportOptions). */
  bindInput(name: string): Tensor | undefined {
    const c = this.consts.get(name);
    if (c) return c;
    const v = this.options.inputValues?.get(name);
    if (!v || !this.info.has(name) || !this.graphInputs.some((i) => i.name === name)) return undefined;
    this.consts.set(name, v);
    return v;
  }

  constOf(n: RNode, name: string | undefined, what: string): Tensor | undefined {
    if (!name) return undefined;
    const c = this.bindInput(name);
    if (c) return c;
    if (this.badConsts.has(name)) this.problem(n, `${what} '${name}': ${this.badConsts.get(name)}`);
    else if (this.graphInputs.some((i) => i.name === name)) this.problem(n, `${what} '${name}' is a graph input: it must be a constant (an initializer, a Constant node, or a value bound to the input)`);
    else this.problem(n, `${what} '${name}' must be a constant (an initializer or a Constant node)`);
    return undefined;
  }

  /** Checks every operand that must be constant, reporting all that are not; false if any. */
  requireConsts(n: RNode, list: [string | undefined, string][]): boolean {
    let ok = true;
    for (const [name, what] of list) if (name && !this.bindInput(name) && !this.constOf(n, name, what)) ok = false;
    return ok;
  }

  /** Operand positions (input index → description) that must be constant, per quantization op. */


  shapeOf(t: string): number[] | undefined {
    const c = this.consts.get(t);
    if (c) return [...c.shape];
    return this.info.get(t)?.shape;
  }
  dtypeOf(t: string): DType | undefined {
    return this.consts.get(t)?.dtype ?? this.info.get(t)?.dtype;
  }

  int(n: RNode, key: string, dflt: number): number {
    const v = n.attrs[key];
    if (v === undefined) return dflt;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.problem(n, `attribute '${key}' should be an int`);
    return dflt;
  }

  /**
   * Scale and zero point operands of a quantization op. `dtypeHint` is the integer type when the
   * zero point is absent (QuantizeLinear: uint8; DequantizeLinear: the input's type).
   * `axisOf`: how per-axis parameters map to an axis (undefined: per-tensor only).
   */
  readQ(
    n: RNode,
    scaleName: string | undefined,
    zpName: string | undefined,
    what: string,
    dtypeHint: DType | undefined,
    axis: number | undefined,
    allowInt32 = false,
  ): Decl | undefined {
    if (!scaleName) {
      this.problem(n, `${what} scale is required`);
      return undefined;
    }
    const s = this.constOf(n, scaleName, `${what} scale`);
    const z = zpName ? this.constOf(n, zpName, `${what} zero point`) : undefined;
    if (!s || (zpName && !z)) return undefined;
    if (s.dtype !== 'float32') {
      this.problem(n, `${what} scale '${scaleName}' must be float32, got ${s.dtype}`);
      return undefined;
    }
    const dtype = z?.dtype ?? dtypeHint ?? 'uint8';
    if (!isIntDType(dtype) || (dtype === 'int32' && !allowInt32)) {
      this.problem(n, `${what} zero point type ${dtype} is not supported (${allowInt32 ? 'int8, uint8, int32' : 'int8, uint8'})`);
      return undefined;
    }
    const scale = Float32Array.from(s.data as Float32Array);
    if (scale.length === 0 || s.shape.length > 1) {
      this.problem(n, `${what} scale must be a scalar or 1-D, got shape [${s.shape.join(',')}]`);
      return undefined;
    }
    for (const v of scale) {
      if (!(v > 0) || !Number.isFinite(v)) {
        this.problem(n, `${what} scale ${v} must be positive and finite`);
        return undefined;
      }
    }
    const zp = z ? toI32(z) : new Int32Array(scale.length);
    if (zp.length !== scale.length && zp.length !== 1) {
      this.problem(n, `${what} zero point has ${zp.length} values, scale has ${scale.length}`);
      return undefined;
    }
    const fullZp = zp.length === scale.length ? zp : new Int32Array(scale.length).fill(zp[0]);
    if (scale.length > 1 && axis === undefined) {
      this.problem(n, `${what} must be per-tensor (scalar scale), got ${scale.length} scales`);
      return undefined;
    }
    return { scale, zp: fullZp, axis: scale.length > 1 ? axis! : -1, dtype, by: n.name };
  }

  setInfo(name: string, dtype: DType, shape: readonly number[] | undefined): void {
    this.info.set(name, { dtype, shape: shape ? [...shape] : undefined });
  }

  layer(entry: Omit<LayerEntry, 'kind'>): void {
    this.entries.push({ kind: 'layer', ...entry });
  }

  /** Parameters of an operand that may be an activation or a constant integer tensor. */
  operandDecl(n: RNode, x: string, s: string, z: string, what: string): Decl | undefined {
    const t = this.dtypeOf(x);
    if (t !== 'int8' && t !== 'uint8') {
      this.problem(n, `${what} must be int8 or uint8, got ${t}`);
      return undefined;
    }
    const d = this.readQ(n, s, z, what, t, undefined);
    if (d && d.dtype !== t) {
      this.problem(n, `${what} zero point type ${d.dtype} differs from the tensor type ${t}`);
      return undefined;
    }
    return d;
  }

  weight(t: Tensor, shape: readonly number[], data: Int32Array, d: Decl): QWeight {
    const q = qparamsOf(d);
    return { data, shape: [...shape], q: { ...q, axis: q.scale.length > 1 ? 0 : -1, signed: t.dtype === 'int8' } };
  }

}
