/**
 * Zero-operand gating priced from the data (arch `pe.zeroGating`): the functional half of a run
 * counts, per tiled conv / gemm layer, the multiplications with a zero activation or a zero weight
 * (sim/kernels/zeros.ts, padding included); this file turns those counts into the energy a gating
 * PE does not spend. A gated multiply-add toggles neither the multiplier nor the adder (both
 * `array` counts drop by the gated MACs); it still takes its slot, so cycles do not change.
 * Detecting a zero costs one comparison per operand element (a flag set when the activation is
 * written, as Eyeriss stores it; per weight element as well for `operand` gating), priced as an
 * adder of the operand's width — an over-estimate of a NOR tree, stated as an assumption.
 * Layers the run executes whole (an activation × activation matmul, number-format and split-input
 * convs) have no counts and are priced ungated.
 * Zero-vector skipping (arch `pe.zeroSkipping`): the feeder drops all-zero streamed activation
 * vectors (sim/kernels/zeros.ts `zeroVectors`); their MACs do not toggle (as gated ones, counted
 * once when both are on) and the layer is timed again with its streams shortened
 * (`withSkipFractions`); the feeder's zero flags are the activation detectors above.
 */
import { applyEnergyTable, energyTableForSpec, type ActionCount } from '../arch/energy.js';
import type { ArchSpec } from '../arch/spec.js';
import { mergeCounts, type LayerResult, type RunResult } from './result.js';
import type { LinearZeroCounts } from './kernels/zeros.js';
import type { Workload } from './engine/workload.js';

/** One layer's zero counts over every sample of the functional run (`samples` of them). */
export interface LayerZeros extends LinearZeroCounts {
  readonly samples: number;
}

/** What a layer result reports of its zeros: fractions, and the per-inference MACs gated. */
export interface LayerZeroReport {
  readonly inputZeroFraction: number;
  readonly weightZeroFraction: number;
  /** share of the layer's MACs with a zero activation / a zero weight / either */
  readonly zeroActMacFraction: number;
  readonly zeroWeightMacFraction: number;
  readonly zeroOperandMacFraction: number;
  /** MACs per inference that the arch's gating idles (0 without gating) */
  readonly gatedMacs: number;
  /** a zero-skipping array: the share of its streamed activation vectors that are all zero, and their MACs per inference */
  readonly zeroVectorFraction?: number;
  readonly skippedMacs?: number;
}

export function zeroReport(z: LayerZeros, gating: ArchSpec['pe']['zeroGating']): LayerZeroReport {
  const gated = gating === 'activation' ? z.zeroActMacs : gating === 'operand' ? z.zeroOperandMacs : 0;
  const v = z.vectors;
  return {
    ...(v && { zeroVectorFraction: v.vectors > 0 ? v.zeroVectors / v.vectors : 0, skippedMacs: v.skippedMacs / z.samples }),
    inputZeroFraction: z.inputElements > 0 ? z.inputZeros / z.inputElements : 0,
    weightZeroFraction: z.weights > 0 ? z.weightZeros / z.weights : 0,
    zeroActMacFraction: z.macs > 0 ? z.zeroActMacs / z.macs : 0,
    zeroWeightMacFraction: z.macs > 0 ? z.zeroWeightMacs / z.macs : 0,
    zeroOperandMacFraction: z.macs > 0 ? z.zeroOperandMacs / z.macs : 0,
    gatedMacs: gated / z.samples,
  };
}

/**
 * The run with each counted layer's zero report attached and, on an arch that gates, its array
 * multiply-adds reduced by the gated MACs and the detectors added; energies recomputed from the
 * counts with the spec's table. Nothing else changes.
 */
export function withZeroGating(result: RunResult, spec: ArchSpec, zeros: Readonly<Record<string, LayerZeros>>): RunResult {
  const gating = spec.pe.zeroGating;
  const skipping = spec.pe.zeroSkipping;
  const table = energyTableForSpec(spec);
  const layers: LayerResult[] = result.layers.map((l) => {
    const z = zeros[l.name];
    if (!z) return l;
    const report = zeroReport(z, gating);
    if (!gating && !skipping) return { ...l, zeros: report };
    // a skipped vector's MACs are zero-activation MACs: gating already idles them, else skipping does
    const idle = gating ? report.gatedMacs : (report.skippedMacs ?? 0);
    const counts: ActionCount[] = l.counts.map((c) =>
      // the per-MAC multiply and add of the array (per-block units of number formats are not gated)
      c.label === 'array' && c.count === l.macs && (c.component === 'multiplier' || c.component === 'adder') ? { ...c, count: c.count - idle } : c,
    );
    counts.push({ component: 'adder', action: 'add', bits: spec.pe.activationOperandBits, count: z.inputElements / z.samples, label: 'zero-detect' });
    if (gating === 'operand') counts.push({ component: 'adder', action: 'add', bits: spec.pe.weightOperandBits, count: z.weights, label: 'zero-detect' });
    return { ...l, zeros: report, counts, energyPj: applyEnergyTable(counts, table).totalPj };
  });
  if (!gating && !skipping) return { ...result, layers };
  const counts = mergeCounts(layers.map((l) => l.counts));
  const energy = applyEnergyTable(counts, table);
  return { ...result, layers, counts, energy, totals: { ...result.totals, energyPj: energy.totalPj } };
}

/**
 * The workload of a zero-skipping arch (pe.zeroSkipping) with each counted GEMM layer's share of
 * all-zero streamed vectors (WorkloadLayer `skipFraction`), for the timing run that follows the
 * data: the engine times a layer once, so a skipping arch is timed again after the functional run.
 */
export function withSkipFractions(workload: Workload, zeros: Readonly<Record<string, { readonly vectors?: { readonly vectors: number; readonly zeroVectors: number } }>>): Workload {
  return {
    ...workload,
    layers: workload.layers.map((l) => {
      const v = l.kind === 'gemm' ? zeros[l.name]?.vectors : undefined;
      return v && v.vectors > 0 && v.zeroVectors > 0 ? { ...l, skipFraction: v.zeroVectors / v.vectors } : l;
    }),
  };
}
