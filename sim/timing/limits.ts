/**
 * The limits of what a run can represent or afford, in one place (sim/engine/README.md "Limits").
 * Each is checked BEFORE the memory or time it guards is spent, and a workload beyond one is a
 * ConfigError that names the layer (with its topology row when it has one), the limit and what to
 * change. Timing needs no memory proportional to a feature map or to the number of folds: a fold's
 * numbers and its sub-tiles are computed in closed form on demand, the counts of a layer are summed
 * class by class (first / middle / last row and column folds), and the native engine fast-forwards
 * runs of identical sub-tiles exactly. What remains real: counts must stay exact doubles, the
 * sub-tiles the engine must step one by one cost time, and SCALE-Sim's request-by-request USER
 * model (and its traces) needs its operand addresses in memory.
 */

/**
 * Counts (cycles, MACs, bits, bytes, actions) are doubles, exact only up to 2^53 − 1: a layer
 * whose counts could exceed it is refused rather than reported inexactly.
 */
export const MAX_COUNT = Number.MAX_SAFE_INTEGER;

/** A topology field (a dimension, channels, filters, stride): SCALE-Sim's addresses are 32-bit. */
export const MAX_TOPOLOGY_FIELD = 2 ** 31 - 1;

/** Layers of one topology once depthwise (`DP`) rows are expanded to one layer per channel. */
export const MAX_TOPOLOGY_LAYERS = 2 ** 16;

/**
 * Sub-tiles the native event engine simulates one by one in a run (≈ 1–3 M/s). Runs of identical
 * sub-tiles are fast-forwarded once their timing repeats, so this bounds the sub-tiles that differ
 * (WS/IS folds that produce outputs, whose output count varies by one from sub-tile to sub-tile)
 * plus a warm-up per run of identical ones.
 */
export const MAX_EVENT_TILES = 2 ** 25;

/**
 * Longest period (in sub-tiles) the engine's fast-forward looks for: alike folds cut into S ≤ it
 * sub-tiles repeat with period S (sim/engine/fold-model.ts cuts folds into ≥ 16 for overlap), and a
 * DRAM-bound run whose writes wait for the loads to pause repeats every few folds.
 */
export const MAX_PERIOD = 48;

/** Sub-tiles a run of identical ones is allowed for its timing to become periodic (estimate and guard). */
export const FAST_FORWARD_WARMUP = 64;

/**
 * SCALE-Sim's USER bandwidth mode (and its traces) replay every operand address: per layer the
 * ifmap, filter and ofmap operand matrices (M·K + K·N + M·N words, and the ifmap itself) as 32-bit
 * addresses, several copies (≈ 16 bytes a word: ≤ 512 MiB).
 */
export const MAX_SCALESIM_WORDS = 2 ** 25;

/**
 * SCALE-Sim USER mode / traces: demand-matrix lanes (row cycles × (rows + 2·cols)) replayed in a
 * run, ≈ 10–20 M/s: well under a minute. ResNet-18 on a 32×32 array needs about 2^27.
 */
export const MAX_SCALESIM_LANES = 2 ** 28;

/** a count for messages: as is below a million, else in exponent form (`7.04e12`) */
export function fmtCount(n: number): string {
  if (n >= 1e6) return n.toExponential(2).replace('e+', 'e');
  return String(n);
}
