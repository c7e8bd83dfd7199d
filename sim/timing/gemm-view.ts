/**
 * GEMM views of layers, in SCALE-Sim's convention (DESIGN.md "Timing model"):
 * M = output pixels (per image), K = kh·kw·Cin/groups (the conv window), N = Cout/groups.
 * A grouped or depthwise convolution is `groups` independent GEMMs of that per-group shape run one
 * after another, so its poor array utilization shows instead of being averaged away.
 *
 * The view keeps the convolution geometry (when there is one) because SCALE-Sim's memory model
 * works on operand *addresses*, and those depend on the window layout, not only on M·K·N.
 */
import { ConfigError, type Problem } from '../../arch/errors.js';

export interface ConvGeometry {
  readonly ifmapH: number;
  readonly ifmapW: number;
  readonly filterH: number;
  readonly filterW: number;
  /** input channels (all groups together) */
  readonly channels: number;
  /** output channels (all groups together) */
  readonly numFilters: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padTop: number;
  readonly padLeft: number;
  /**
   * SCALE-Sim has no padding but rounds the output size up (⌈(H−FH+S)/S⌉) and reads nothing for
   * the window positions past the edge; a topology row is expressed here as that much bottom/right
   * padding, which gives the same output size and the same (absent) reads.
   */
  readonly padBottom: number;
  readonly padRight: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly group: number;
}

export interface GemmView {
  readonly name: string;
  /** output pixels (per group: the same) */
  readonly M: number;
  /** reduction length per group */
  readonly K: number;
  /** output channels per group */
  readonly N: number;
  /** depthwise/grouped: per-group GEMMs, repeated `groups` times */
  readonly groups: number;
  readonly conv: ConvGeometry | null;
  /** where the layer was read from (`topology.csv:12`), for messages; absent when unknown */
  readonly origin?: string;
}

/** Output size of one spatial axis (floor mode, explicit padding). */
export function convOutSize(inSize: number, filter: number, stride: number, padBefore: number, padAfter: number, dilation: number): number {
  return Math.floor((inSize + padBefore + padAfter - dilation * (filter - 1) - 1) / stride) + 1;
}

const INT_FIELDS: readonly (keyof ConvGeometry)[] = [
  'ifmapH',
  'ifmapW',
  'filterH',
  'filterW',
  'channels',
  'numFilters',
  'strideH',
  'strideW',
  'padTop',
  'padLeft',
  'padBottom',
  'padRight',
  'dilationH',
  'dilationW',
  'group',
];
const MAY_BE_ZERO = new Set<keyof ConvGeometry>(['padTop', 'padLeft', 'padBottom', 'padRight']);

/** Throws one ConfigError listing every problem of a geometry (paths `<name>.<field>`). */
export function checkConvGeometry(name: string, g: ConvGeometry): void {
  const problems: Problem[] = [];
  for (const f of INT_FIELDS) {
    const v = g[f];
    const min = MAY_BE_ZERO.has(f) ? 0 : 1;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      problems.push({ path: `${name}.${f}`, message: `${String(v)} is not an integer ≥ ${min}` });
    }
  }
  if (problems.length === 0) {
    if (g.channels % g.group !== 0) problems.push({ path: `${name}.group`, message: `channels ${g.channels} is not divisible by group ${g.group}` });
    if (g.numFilters % g.group !== 0) problems.push({ path: `${name}.group`, message: `numFilters ${g.numFilters} is not divisible by group ${g.group}` });
    const oh = convOutSize(g.ifmapH, g.filterH, g.strideH, g.padTop, g.padBottom, g.dilationH);
    const ow = convOutSize(g.ifmapW, g.filterW, g.strideW, g.padLeft, g.padRight, g.dilationW);
    if (oh < 1) problems.push({ path: `${name}.filterH`, message: `the (dilated) filter height does not fit in the padded ifmap height ${g.ifmapH}` });
    if (ow < 1) problems.push({ path: `${name}.filterW`, message: `the (dilated) filter width does not fit in the padded ifmap width ${g.ifmapW}` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** SCALE-Sim convention: M = output pixels, K = kh·kw·Cin/groups, N = Cout/groups. */
export function gemmViewOfConv(name: string, g: ConvGeometry, origin?: string): GemmView {
  checkConvGeometry(name, g);
  const oh = convOutSize(g.ifmapH, g.filterH, g.strideH, g.padTop, g.padBottom, g.dilationH);
  const ow = convOutSize(g.ifmapW, g.filterW, g.strideW, g.padLeft, g.padRight, g.dilationW);
  return Object.freeze({
    name,
    M: oh * ow,
    K: g.filterH * g.filterW * (g.channels / g.group),
    N: g.numFilters / g.group,
    groups: g.group,
    conv: Object.freeze({ ...g }),
    ...(origin !== undefined && { origin }),
  });
}

/** A plain GEMM (M×K)·(K×N). */
export function gemmViewOfGemm(name: string, M: number, K: number, N: number, origin?: string): GemmView {
  const problems: Problem[] = [];
  for (const [k, v] of [
    ['M', M],
    ['K', K],
    ['N', N],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) problems.push({ path: `${name}.${k}`, message: `${String(v)} is not an integer ≥ 1` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ name, M, K, N, groups: 1, conv: null, ...(origin !== undefined && { origin }) });
}

/** Output height and width of a view's convolution (M × 1 for a plain GEMM). */
export function viewOutDims(view: GemmView): { readonly outH: number; readonly outW: number } {
  const g = view.conv;
  if (!g) return { outH: view.M, outW: 1 };
  return {
    outH: convOutSize(g.ifmapH, g.filterH, g.strideH, g.padTop, g.padBottom, g.dilationH),
    outW: convOutSize(g.ifmapW, g.filterW, g.strideW, g.padLeft, g.padRight, g.dilationW),
  };
}
