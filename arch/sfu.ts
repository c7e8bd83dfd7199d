/**
 * The special-function unit (SFU) of an arch spec: the vector unit beside the requant unit that
 * computes what a transformer needs besides GEMMs — Softmax, LayerNorm and (integer) GELU — and
 * which algorithm its hardware implements for each. `sfu: "none"` (normalized: null) is an
 * accelerator without one: those ops then run unfused on a host, their input written out at
 * 32 bits and their result read back (what sim/ counts), as a missing fused activation does.
 *
 * Its own file: the SFU's vocabulary, normalized form and reader; normalize.ts calls the reader.
 */
import type { Problem } from './errors.js';
import { type Obj, checkKeys, describe, isPlainObject, readEnum, readInt, readObject } from './validate.js';

/**
 * Softmax algorithms (qnet/ implements each bit for bit):
 * `ort` — ONNX Runtime's com.microsoft QLinearSoftmax: exp from a float lookup table indexed by
 * the distance to the row's maximum, float sum and normalization;
 * `ibert` — I-BERT's integer-only softmax (Kim et al., ICML 2021): second-order polynomial exp
 * with a shift, integer sum and integer division;
 * `lut` — exp from an integer lookup table of `expLutEntries` entries, integer normalization.
 */
export type SoftmaxAlgorithm = 'ort' | 'ibert' | 'lut';
export const SOFTMAX_ALGORITHMS: readonly SoftmaxAlgorithm[] = Object.freeze(['ort', 'ibert', 'lut']);

/** LayerNorm: `float` (float32 in the unit, as ONNX defines it) or `integer` (I-BERT: integer mean, variance and Newton square root) */
export type LayerNormAlgorithm = 'float' | 'integer';
export const LAYERNORM_ALGORITHMS: readonly LayerNormAlgorithm[] = Object.freeze(['float', 'integer']);

/** GELU: `lut` (the requant unit's lookup table, as the other LUT activations) or `igelu` (I-BERT's integer erf polynomial, in the SFU) */
export type GeluAlgorithm = 'lut' | 'igelu';
export const GELU_ALGORITHMS: readonly GeluAlgorithm[] = Object.freeze(['lut', 'igelu']);

/** Operation kinds whose pipeline latency the spec gives: the steps that end a dependency in a row */
export type SfuOpKind = 'exp' | 'divide' | 'rsqrt' | 'lut';
export const SFU_OP_KINDS: readonly SfuOpKind[] = Object.freeze(['exp', 'divide', 'rsqrt', 'lut']);

export interface SfuSpec {
  /** elements the unit processes per cycle in each pass over a row */
  readonly lanes: number;
  /** pipeline latency of each operation kind, cycles */
  readonly latencyCycles: Readonly<Record<SfuOpKind, number>>;
  readonly softmax: SoftmaxAlgorithm;
  readonly layerNorm: LayerNormAlgorithm;
  readonly gelu: GeluAlgorithm;
  /** entries of the exp table of the `lut` softmax (power of two); ORT's table has 256 */
  readonly expLutEntries: number;
}

export interface SfuInput {
  lanes?: number;
  latencyCycles?: Partial<Record<SfuOpKind, number>>;
  softmax?: SoftmaxAlgorithm;
  layerNorm?: LayerNormAlgorithm;
  gelu?: GeluAlgorithm;
  expLutEntries?: number;
}

/** defaults of a given SFU (documented in arch/README.md) */
export const SFU_DEFAULTS = Object.freeze({
  latencyCycles: Object.freeze({ exp: 4, divide: 16, rsqrt: 16, lut: 1 } as Record<SfuOpKind, number>),
  softmax: 'ibert' as SoftmaxAlgorithm,
  layerNorm: 'integer' as LayerNormAlgorithm,
  gelu: 'lut' as GeluAlgorithm,
  expLutEntries: 256,
});

/**
 * Reads `input.sfu`: absent or `"none"` → null (no SFU), an object → the normalized SfuSpec with
 * defaults filled (`lanes` defaults to the array's columns). `undefined` with problems pushed when
 * it is wrong.
 */
export function readSfu(input: Obj, cols: number | undefined, problems: Problem[]): SfuSpec | null | undefined {
  const v = input.sfu;
  if (v === undefined || v === null || v === 'none') return null;
  if (!isPlainObject(v)) {
    problems.push({ path: 'sfu', message: `expected "none" or an object, got ${describe(v)}` });
    return undefined;
  }
  const before = problems.length;
  checkKeys(v, 'sfu', ['lanes', 'latencyCycles', 'softmax', 'layerNorm', 'gelu', 'expLutEntries'], problems);
  const lanes = readInt(v, 'lanes', 'sfu', problems, { min: 1, max: 65536, default: cols ?? 1 });
  const lat = readObject(v, 'latencyCycles', 'sfu', problems);
  const latencyCycles = {} as Record<SfuOpKind, number>;
  if (lat) {
    checkKeys(lat, 'sfu.latencyCycles', SFU_OP_KINDS, problems);
    for (const k of SFU_OP_KINDS) {
      const n = readInt(lat, k, 'sfu.latencyCycles', problems, { min: 0, max: 4096, default: SFU_DEFAULTS.latencyCycles[k] });
      if (n !== undefined) latencyCycles[k] = n;
    }
  }
  const softmax = readEnum(v, 'softmax', 'sfu', problems, SOFTMAX_ALGORITHMS, SFU_DEFAULTS.softmax);
  const layerNorm = readEnum(v, 'layerNorm', 'sfu', problems, LAYERNORM_ALGORITHMS, SFU_DEFAULTS.layerNorm);
  const gelu = readEnum(v, 'gelu', 'sfu', problems, GELU_ALGORITHMS, SFU_DEFAULTS.gelu);
  const expLutEntries = readInt(v, 'expLutEntries', 'sfu', problems, { min: 2, max: 65536, default: SFU_DEFAULTS.expLutEntries });
  if (expLutEntries !== undefined && (expLutEntries & (expLutEntries - 1)) !== 0) problems.push({ path: 'sfu.expLutEntries', message: `${expLutEntries} is not a power of two` });
  if (problems.length > before) return undefined;
  return { lanes: lanes!, latencyCycles, softmax: softmax!, layerNorm: layerNorm!, gelu: gelu!, expLutEntries: expLutEntries! };
}
