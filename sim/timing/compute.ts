/**
 * SCALE-Sim v2's compute model (scalesim/compute/systolic_compute_{os,ws,is}.py), in closed form.
 *
 * SCALE-Sim maps a GEMM view onto an R×C array as a spatial Sr×Sc tile swept over T time steps:
 *
 * | dataflow | Sr (rows) | Sc (cols) | T (time) | cycles per fold        | utilization denominator |
 * | -------- | --------- | --------- | -------- | ---------------------- | ----------------------- |
 * | os       | M         | N         | K        | T + R + C − 2          | T + R + C − 2           |
 * | ws       | K         | N         | M        | 2R + C + T − 2         | 2R + 2C + T − 3         |
 * | is       | K         | M         | N        | 2R + C + T − 2         | 2R + 2C + T − 3         |
 *
 * rowFolds = ⌈Sr/R⌉, colFolds = ⌈Sc/C⌉. A partially used fold is padded with null requests, so
 * every fold of a layer lasts the same number of cycles: the demand matrices SCALE-Sim builds have
 * exactly that many rows per fold (operand fill, T steps, skew, drain). Folds run back to back with
 * the row fold varying fastest (its loops are `for fc: for fr:`), i.e. fold index = fc·rowFolds + fr
 * ("col-major" over the rowFolds × colFolds grid). The utilization denominators are SCALE-Sim's own
 * per-fold cycle estimates (`cycles_this_fold`), which for ws/is count C − 1 cycles more than the
 * fold occupies; reproduced as is because its "Compute Util %" is built from them.
 *
 * Grouped views repeat the per-group fold sequence `groups` times.
 */
import type { GemmView } from './gemm-view.js';

export type TimingDataflow = 'ws' | 'os' | 'is';

export interface FoldPlan {
  readonly dataflow: TimingDataflow;
  readonly rows: number;
  readonly cols: number;
  readonly rowFolds: number;
  readonly colFolds: number;
  /** the K split the dataflow implies: WS/IS map K on rows → kTile = rows; OS keeps K in the PE → kTile = 0 */
  readonly kTile: number;
  /**
   * cycles of each fold, in SCALE-Sim's fold order (all groups: groups·rowFolds·colFolds entries),
   * every one `foldCycles`; built on first use (a layer may have more folds than memory holds —
   * the engine and the SCALE-Sim model use `foldCycles`)
   */
  readonly computeCyclesPerFold: Float64Array;
  /** Σ computeCyclesPerFold (SCALE-Sim's "Total Cycles" in CALC mode is this − 1: it reports the index of the last cycle) */
  readonly totalComputeCycles: number;
  /** fold index = fc·rowFolds + fr: row folds vary fastest */
  readonly foldOrder: 'row-major' | 'col-major';
  /** groups·M·K·N */
  readonly macs: number;
  /** mean over folds of used PEs / (R·C), a fraction (SCALE-Sim reports it ×100) */
  readonly mappingEfficiency: number;
  /** mean over folds of used-PE·T / (R·C·SCALE-Sim's fold cycle estimate), a fraction */
  readonly computeUtilization: number;
  /** spatial rows, spatial cols and time steps of the mapping (see the table above) */
  readonly Sr: number;
  readonly Sc: number;
  readonly T: number;
  /** cycles of one fold (the same for every fold) */
  readonly foldCycles: number;
  readonly groups: number;
}

/** SCALE-Sim's (Sr, Sc, T) for a dataflow. */
export function spatioTemporal(view: Pick<GemmView, 'M' | 'K' | 'N'>, dataflow: TimingDataflow): { Sr: number; Sc: number; T: number } {
  if (dataflow === 'os') return { Sr: view.M, Sc: view.N, T: view.K };
  if (dataflow === 'ws') return { Sr: view.K, Sc: view.N, T: view.M };
  return { Sr: view.K, Sc: view.M, T: view.N };
}

/** Rows of SCALE-Sim's demand matrices per fold (= cycles per fold). */
export function foldCycles(dataflow: TimingDataflow, rows: number, cols: number, T: number): number {
  return dataflow === 'os' ? T + rows + cols - 2 : 2 * rows + cols + T - 2;
}

function utilCycles(dataflow: TimingDataflow, rows: number, cols: number, T: number): number {
  return dataflow === 'os' ? T + rows + cols - 2 : 2 * rows + 2 * cols + T - 3;
}

export function planFolds(view: GemmView, rows: number, cols: number, dataflow: TimingDataflow): FoldPlan {
  if (!(Number.isSafeInteger(rows) && rows >= 1 && Number.isSafeInteger(cols) && cols >= 1)) {
    throw new RangeError(`planFolds: array ${rows}×${cols} is not a positive integer shape`);
  }
  const { Sr, Sc, T } = spatioTemporal(view, dataflow);
  const rowFolds = Math.ceil(Sr / rows);
  const colFolds = Math.ceil(Sc / cols);
  const perGroup = rowFolds * colFolds;
  const groups = view.groups;
  const fc = foldCycles(dataflow, rows, cols, T);
  let perFold: Float64Array | null = null;
  const pes = rows * cols;
  // Σ over folds of used PEs is Sr·Sc (the folds tile the Sr×Sc matrix exactly once)
  const mappingEfficiency = (Sr * Sc) / (perGroup * pes);
  const computeUtilization = (Sr * Sc * T) / (perGroup * pes * utilCycles(dataflow, rows, cols, T));
  return Object.freeze({
    dataflow,
    rows,
    cols,
    rowFolds,
    colFolds,
    kTile: dataflow === 'os' ? 0 : rows,
    get computeCyclesPerFold(): Float64Array {
      perFold ??= new Float64Array(perGroup * groups).fill(fc);
      return perFold;
    },
    totalComputeCycles: fc * perGroup * groups,
    foldOrder: 'col-major' as const,
    macs: groups * view.M * view.K * view.N,
    mappingEfficiency,
    computeUtilization,
    Sr,
    Sc,
    T,
    foldCycles: fc,
    groups,
  });
}
