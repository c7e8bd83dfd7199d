/**
 * What a Softmax, LayerNorm or integer GELU costs on the special-function unit (arch/sfu.ts): the
 * passes the unit makes over a layer's elements, the work once per row, the latencies on a row's
 * dependency chain, and the primitive actions (adders, multipliers, table reads) they decompose
 * into, so any energy table prices them without SFU-specific entries. Its own file: the one place
 * that says what each algorithm does in hardware.
 *
 * Per algorithm (E elements in R rows of L; widths in bits; "add" includes compares, shifts and
 * round-and-clamp, each one adder operation):
 *
 * Softmax — three passes: (1) the row maximum, one compare per element at the input width;
 * (2) exp and the running sum; a row op: the reciprocal of the sum; (3) normalize and quantize.
 *  - `ort` (ONNX Runtime's QLinearSoftmax): (2) one read of a 256-entry × 32-bit float exp table
 *    + one fp32 add; row: an fp32 reciprocal, 3 Newton–Raphson steps of 2 fp32 multiplies and one
 *    fp32 add (assumption: the usual iterative divider); (3) one fp32 multiply + one add.
 *  - `ibert` (Kim et al. 2021, Alg. 2): (2) i-exp — z = ⌊−q/q_ln2⌋ as a multiply by a constant,
 *    the polynomial (p + b)² + c as one multiply and two adds, the shift by z one add — so 2 int32
 *    multiplies and 3 adds, + one int32 add for the sum; row: a 32-bit integer division, counted as
 *    32 restoring-division steps of one 32-bit add (assumption); (3) two int32 multiplies (e times
 *    the row's ⌊2³²/Σ⌋, then the output's fixed-point multiplier, qnet/softmax.ts) + one add.
 *  - `lut`: (2) one read of an `expLutEntries` × 16-bit integer table (entries ≤ 2¹⁵) + one int32
 *    add; row and (3) as `ibert`.
 *  Chain: the exp step (`exp`, or `lut` for a table) then the row's `divide`.
 * LayerNorm — three passes: (1) the mean's sum; (2) the centred square and the variance's sum; a
 * row op: the reciprocal square root; (3) centre, scale by it, γ, β, quantize.
 *  - `float`: (1) dequantize (fp32 multiply) + fp32 add; (2) fp32 add (centre), multiply (square),
 *    add (sum); row: fp32 rsqrt, 3 Newton–Raphson steps of 3 fp32 multiplies and one add
 *    (assumption); (3) fp32 add (centre), 3 fp32 multiplies (rsqrt, γ, quantize), fp32 add (β),
 *    one add (round-and-clamp at the output width).
 *  - `integer` (I-BERT, Alg. 4): (1) int32 add; (2) int32 add, multiply, add; row: integer square
 *    root by Newton's method, 4 iterations of a division and two adds, then one division for the
 *    factor — 5 divisions of 32 adds each + 8 adds; (3) int32 add, 2 int32 multiplies (factor, γ),
 *    2 adds (β, shift-and-round).
 *  Chain: `rsqrt`.
 * i-GELU (I-BERT, Alg. 3) — one pass, no row op: sign, |q| clipped, (|q| + b)² + c, erf + 1, the
 * product with q and the output's fixed-point multiplier (qnet/igelu.ts): 3 int32 multiplies and 5
 * int32 adds per element. Chain: `exp` (the same
 * polynomial pipeline).
 *
 * Cycles: each pass streams the elements at `lanes` per cycle; the row op takes one lane per row
 * (⌈R / lanes⌉ issue cycles); the chain's latencies are paid once per layer, because the unit keeps
 * other rows in flight while one waits (the engine adds them to the layer's first sub-tile).
 */
import type { ActionCount } from '../../arch/energy.js';
import type { GeluAlgorithm, LayerNormAlgorithm, SfuSpec, SoftmaxAlgorithm } from '../../arch/spec.js';
import { mergeCounts } from '../result.js';

export type SfuOp = 'softmax' | 'layernorm' | 'igelu';

/** a layer's work for the SFU: R rows of L elements (i-GELU: R = 1, L = all elements) */
export interface SfuWork {
  readonly op: SfuOp;
  readonly rows: number;
  readonly rowLength: number;
  readonly inputBits: number;
  readonly outputBits: number;
}

export interface SfuCost {
  readonly algorithm: SoftmaxAlgorithm | LayerNormAlgorithm | GeluAlgorithm;
  /** passes over every element */
  readonly passes: number;
  /** row operations (a reciprocal or reciprocal square root per row); 0 for i-GELU */
  readonly rowOps: number;
  /** latency on one row's dependency chain, paid once per layer */
  readonly chainLatencyCycles: number;
  /** primitive actions of the whole layer, labelled `sfu` */
  readonly counts: readonly ActionCount[];
}

const I32 = 32;
/** one 32-bit integer division: restoring division, one 32-bit add a quotient bit (assumption) */
const DIVIDE_ADDS = 32;
/** Newton–Raphson steps of a float reciprocal or reciprocal square root (assumption) */
const NR_STEPS = 3;
/** Newton iterations of I-BERT's integer square root */
const ISQRT_ITERATIONS = 4;

/** the algorithm an SFU runs for an op */
export function sfuAlgorithm(op: SfuOp, sfu: SfuSpec): SfuCost['algorithm'] {
  return op === 'softmax' ? sfu.softmax : op === 'layernorm' ? sfu.layerNorm : 'igelu';
}

/** What a layer's SFU work costs on `sfu`. */
export function sfuCost(work: SfuWork, sfu: SfuSpec): SfuCost {
  const E = work.rows * work.rowLength;
  const R = work.rows;
  const counts: ActionCount[] = [];
  const add = (bits: number, n: number) => n > 0 && counts.push({ component: 'adder', action: 'add', bits, count: n, label: 'sfu' });
  const mult = (n: number) => n > 0 && counts.push({ component: 'multiplier', action: 'mult', bits: [I32, I32], count: n, label: 'sfu' });
  const fadd = (n: number) => n > 0 && counts.push({ component: 'fp-adder', action: 'add', bits: 32, count: n, label: 'sfu' });
  const fmul = (n: number) => n > 0 && counts.push({ component: 'fp-multiplier', action: 'mult', bits: [32, 32], count: n, label: 'sfu' });
  const table = (entries: number, bits: number, n: number) => n > 0 && counts.push({ component: 'sram', action: 'read', bits, capacityBytes: (entries * bits) / 8, count: n, label: 'sfu' });
  const lat = sfu.latencyCycles;
  const algorithm = sfuAlgorithm(work.op, sfu);
  switch (work.op) {
    case 'softmax': {
      add(work.inputBits, E); // the row maximum
      if (algorithm === 'ort') {
        table(256, 32, E);
        fadd(E);
        fmul(R * NR_STEPS * 2);
        fadd(R * NR_STEPS);
        fmul(E);
        add(work.outputBits, E);
        return { algorithm, passes: 3, rowOps: R, chainLatencyCycles: lat.lut + lat.divide, counts: mergeCounts([counts]) };
      }
      if (algorithm === 'ibert') {
        mult(2 * E);
        add(I32, 3 * E + E);
      } else {
        table(sfu.expLutEntries, 16, E);
        add(I32, E);
      }
      add(I32, R * DIVIDE_ADDS);
      // e·⌊2³²/Σ⌋, then the fixed-point multiplier to the output scale
      mult(2 * E);
      add(work.outputBits, E);
      return { algorithm, passes: 3, rowOps: R, chainLatencyCycles: (algorithm === 'ibert' ? lat.exp : lat.lut) + lat.divide, counts: mergeCounts([counts]) };
    }
    case 'layernorm': {
      if (algorithm === 'float') {
        fmul(E);
        fadd(E);
        fadd(2 * E);
        fmul(E);
        fmul(R * NR_STEPS * 3);
        fadd(R * NR_STEPS);
        fadd(2 * E);
        fmul(3 * E);
        add(work.outputBits, E);
      } else {
        add(I32, E);
        add(I32, 2 * E);
        mult(E);
        add(I32, R * ((ISQRT_ITERATIONS + 1) * DIVIDE_ADDS + 2 * ISQRT_ITERATIONS));
        add(I32, E);
        mult(2 * E);
        add(I32, E);
        add(work.outputBits, E);
      }
      return { algorithm, passes: 3, rowOps: R, chainLatencyCycles: lat.rsqrt, counts: mergeCounts([counts]) };
    }
    case 'igelu':
      // the square, x·(erf + 1), the output multiplier
      mult(3 * E);
      add(I32, 5 * E);
      return { algorithm, passes: 1, rowOps: 0, chainLatencyCycles: lat.exp, counts: mergeCounts([counts]) };
  }
}

/** compute cycles of `rows` rows of the work on `sfu` (without the chain latency) */
export function sfuStreamCycles(cost: SfuCost, work: SfuWork, rows: number, lanes: number): number {
  return cost.passes * Math.ceil((rows * work.rowLength) / lanes) + (cost.rowOps > 0 ? Math.ceil(rows / lanes) : 0);
}
