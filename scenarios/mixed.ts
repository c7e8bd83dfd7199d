/**
 * Mixed precision against simulated cost (`qloom mixed`): per conv / gemm layer a choice of
 * weight and output-activation bits, chosen by an exact integer program (scenarios/mixed-ilp.ts,
 * HiGHS) from two measured tables:
 * - sensitivity: the network's output noise against FP32 (mean squared error of the logits on
 *   calibration images) with only that layer at that choice and every other layer at the
 *   reference (the widest choice) — output noise of independent quantizers adds, which is what
 *   lets the program sum it (the additive model of HAWQ-V3 and of SQNR-based allocation);
 * - cost: the simulated energy (or cycles) of one inference on the arch with only that layer
 *   changed, from the same run — so a layer's cheaper output activations also count in the next
 *   layer's reads.
 * The program's front (one solve per budget) is then measured for real: every assignment on it,
 * and each choice applied uniformly, is quantized, run on the test split through the integers the
 * arch computes, and simulated in full. Predictions and measurements are reported side by side.
 *
 * A choice is integer bits (`w4a8`: 4-bit weights per the base preset's granularity, 8-bit
 * output activations; `int8` = `w8a8`). Layers taken below 8 weight bits get MSE weight ranges
 * (as the 4-bit presets do) when the base preset uses min-max. Number formats (FP8, MX) are not
 * per-layer choices: between layers a mixed network's tensors are affine integers.
 */
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { stringify as stringifyYaml } from 'yaml';
import type { ArchSpec } from '../arch/spec.js';
import { UsageError } from '../errors/index.js';
import { loadModel } from '../nets/zoo/index.js';
import { configHash, PRESET_NAMES as PTQ_PRESETS, resolvePtqConfig, type LayerOverride, type PtqConfig } from '../quant/config.js';
import { runFp32Batched } from '../quant/pipeline.js';
import { calibrationSet, dataSplits, evaluationSet, TEXT_DATASETS, type EvalDatasetName, type EvalSet } from './datasets.js';
import { sqnrDb, top1Of } from './debug.js';
import { agreementWithFp32, evaluateOnArch, type ArchEvaluation } from './evaluate.js';
import { costRange, paretoFront, type AssignmentProblem } from './mixed-ilp.js';
import { writeFilesAtomic } from './files.js';
import { quantizeModel } from './quantize.js';
import { renderSvg } from './report.js';
import { operandFormatProblem } from '../sim/requant-unit.js';
import { loadArch } from './simulate.js';

export interface MixedChoice {
  readonly name: string;
  /** integer choices: the bits; a number format: its element widths (what traffic is costed at) */
  readonly wBits: number;
  readonly aBits: number;
  /** a number-format choice: its preset (fp8e4m3, mxfp8 …) */
  readonly format?: string;
}

export type MixedObjective = 'energy' | 'cycles';

export interface MixedOptions {
  readonly model: string;
  readonly arch: string | ArchSpec;
  readonly data: EvalDatasetName;
  /** e.g. ['w8a8', 'w4a8', 'w8a4'] (default) */
  readonly choices?: readonly string[];
  /** the base PTQ preset every choice overrides bits of (default w8a8-pc) */
  readonly preset?: string;
  /** what the front trades the proxy against (default energy) */
  readonly objective?: MixedObjective;
  /** the most the objective may cost per inference: pJ for energy, cycles for cycles */
  readonly budget?: number;
  /** the budget as a fraction of the reference assignment's cost (0.8 = 80 %); not with `budget` */
  readonly budgetFraction?: number;
  /** budgets the front is solved at (default 10) */
  readonly points?: number;
  /** calibration images the sensitivity is measured on (default 256) */
  readonly sensitivitySamples?: number;
  /** test images each measured point runs (default 1000) */
  readonly samples?: number;
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

export interface MixedMeasurement {
  /** top-1 on the test images (photos: agreement with FP32) */
  readonly top1: number;
  /** output SQNR against FP32 on the same images, dB */
  readonly sqnrDb: number;
  readonly energyPj: number;
  readonly cycles: number;
  readonly bitsMoved: number;
  readonly weightBits: number;
  readonly overflows: number;
}

export interface MixedPoint {
  /** 'front' (the program's), or 'uniform' (one choice on every layer) */
  readonly kind: 'front' | 'uniform';
  /** choice name per layer, in layer order */
  readonly assignment: readonly string[];
  /** the program's prediction: noise, SQNR and cost from the sums of the tables */
  readonly predicted: { readonly noise: number; readonly sqnrDb: number; readonly cost: number };
  readonly measured: MixedMeasurement;
  readonly configHash: string;
  /** the budget it was solved under (front points) */
  readonly budget?: number;
}

export interface MixedRow {
  readonly layer: string;
  readonly choice: string;
  /** output noise (MSE vs FP32) with only this layer at this choice */
  readonly noise: number;
  readonly energyPj: number;
  readonly cycles: number;
}

export interface MixedResult {
  readonly model: string;
  readonly arch: { readonly name: string; readonly configHash: string };
  readonly dataset: EvalDatasetName;
  readonly splits: { readonly calibration: string; readonly evaluation: string };
  readonly preset: string;
  readonly baseConfigHash: string;
  readonly seed: number;
  readonly objective: MixedObjective;
  readonly budget: number | null;
  readonly choices: readonly MixedChoice[];
  /** the widest choice: every table row is a change against it */
  readonly reference: string;
  readonly layers: readonly string[];
  readonly sensitivitySamples: number;
  readonly samples: number;
  /** the logits' mean square on the sensitivity images (the signal of the predicted SQNR) */
  readonly signal: number;
  /** noise and cost of the reference assignment */
  readonly referenceNoise: number;
  readonly table: readonly MixedRow[];
  readonly fp32Top1: number;
  readonly points: readonly MixedPoint[];
  readonly solver: { readonly name: 'HiGHS'; readonly solves: number; readonly ms: number };
  readonly seconds: { readonly sensitivity: number; readonly solve: number; readonly evaluation: number };
}

const FORMAT_PRESETS = ['fp8e4m3', 'fp8e5m2', 'bf16', 'fp16', 'mxfp8', 'mxfp6', 'mxfp4', 'mxint8', 'w4g32a8'];
/** number formats a layer can take in a search: float / MX (per-group weights keep affine activations and cannot mix) */
const FORMAT_CHOICES = FORMAT_PRESETS.filter((f) => f !== 'w4g32a8');

/** `w4a8`, `int8`, `fp8e4m3` … → choices; every bad name in one error. */
export function parseChoices(names: readonly string[]): MixedChoice[] {
  const problems: string[] = [];
  const out: MixedChoice[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (FORMAT_CHOICES.includes(name)) {
      const f = resolvePtqConfig(name);
      if (out.some((c) => c.format !== undefined && c.format !== name)) problems.push(`'${raw}': one number format per search (a network has one format; its other layers stay integers)`);
      else if (out.some((c) => c.name === name)) problems.push(`'${raw}' is given twice`);
      else out.push({ name, wBits: f.weights.bits, aBits: f.activations.bits, format: name });
      continue;
    }
    let m = /^w(\d+)a(\d+)$/.exec(name);
    const i = /^int(\d+)$/.exec(name);
    if (i) m = [name, i[1], i[1]] as unknown as RegExpExecArray;
    if (!m) {
      problems.push(
        FORMAT_PRESETS.includes(name)
          ? `'${raw}': per-group weights keep every activation on integers and cannot share a network with other formats; choices are integer bits (wXaY, intN) and one of ${FORMAT_CHOICES.join(', ')}`
          : `'${raw}' is not a choice (expected wXaY — X weight bits, Y output-activation bits —, intN, or a number format: ${FORMAT_CHOICES.join(', ')})`,
      );
      continue;
    }
    const w = Number(m[1]);
    const a = Number(m[2]);
    if (!(w >= 2 && w <= 16 && a >= 2 && a <= 16)) {
      problems.push(`'${raw}': bits must be in 2…16`);
      continue;
    }
    const canonical = `w${w}a${a}`;
    if (out.some((c) => c.name === canonical)) problems.push(`'${raw}' is given twice (as ${canonical})`);
    else out.push({ name: canonical, wBits: w, aBits: a });
  }
  if (names.length === 0) problems.push('no choices given');
  else if (out.length === 1 && problems.length === 0) problems.push('one choice leaves nothing to search: give at least two');
  if (problems.length) throw new UsageError(`--choices: ${problems.join('; ')}`);
  return out;
}

/**
 * The PTQ config of an assignment: the base preset with each layer's bits where they differ; when
 * some layers take the number-format choice, the network is on that format (its scales from the
 * base preset's calibrated ranges) with every other layer kept on integers (`format.integerLayers`).
 */
export function assignmentConfig(base: PtqConfig, layers: readonly string[], choices: readonly MixedChoice[], pick: ArrayLike<number>): PtqConfig {
  const overrides: Record<string, LayerOverride> = {};
  const integer: string[] = [];
  let format: string | undefined;
  layers.forEach((layer, l) => {
    const c = choices[pick[l]];
    if (c.format !== undefined) {
      format = c.format;
      return;
    }
    integer.push(layer);
    const o: { wBits?: number; aBits?: number; weightRange?: 'mse' } = {};
    if (c.wBits !== base.weights.bits) o.wBits = c.wBits;
    if (c.aBits !== base.activations.bits) o.aBits = c.aBits;
    if (c.wBits < 8 && base.weightRange === 'minmax') o.weightRange = 'mse';
    if (Object.keys(o).length) overrides[layer] = o;
  });
  const cfg = resolvePtqConfig(base.preset, { overrides, calibSamples: base.calibSamples, seed: base.seed });
  if (format === undefined) return cfg;
  const f = resolvePtqConfig(format).format!;
  return Object.freeze({ ...cfg, format: Object.freeze({ ...f, ...(integer.length > 0 && { integerLayers: Object.freeze(integer) }) }) });
}

function meanSquare(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s / x.length;
}

function mse(ref: Float32Array, x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = x[i] - ref[i];
    s += d * d;
  }
  return s / ref.length;
}

function subset(set: EvalSet, n: number): EvalSet {
  const per = set.shape.reduce((a, b) => a * b, 1);
  return { images: set.images.subarray(0, n * per), shape: set.shape, count: n };
}

function count(v: number | undefined, name: string, def: number, min = 1): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** The mixed-precision search: tables, the program's front, and every point measured. */
export async function mixedPrecision(opts: MixedOptions): Promise<MixedResult> {
  const problems: string[] = [];
  if (TEXT_DATASETS.includes(opts.data)) problems.push(`--data ${opts.data}: the search scores classifiers (top-1 and logit SQNR); text recognizers are not supported`);
  const presetName = opts.preset ?? 'w8a8-pc';
  if (!PTQ_PRESETS.includes(presetName)) problems.push(`unknown preset '${presetName}'`);
  else if (FORMAT_PRESETS.includes(presetName)) problems.push(`--preset ${presetName}: the base preset must be an integer one`);
  const objective = opts.objective ?? 'energy';
  if (objective !== 'energy' && objective !== 'cycles') problems.push(`objective must be energy or cycles, got '${String(objective)}'`);
  if (opts.budget !== undefined && !(opts.budget > 0)) problems.push(`budget must be positive, got ${String(opts.budget)}`);
  if (opts.budgetFraction !== undefined && !(opts.budgetFraction > 0)) problems.push(`budget fraction must be positive, got ${String(opts.budgetFraction)}`);
  if (opts.budget !== undefined && opts.budgetFraction !== undefined) problems.push('give a budget or a budget fraction, not both');
  let choices: MixedChoice[] = [];
  try {
    choices = parseChoices(opts.choices ?? ['w8a8', 'w4a8', 'w8a4']);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const fmtChoice = choices.find((c) => c.format !== undefined);
  if (fmtChoice && PTQ_PRESETS.includes(presetName)) {
    const b = resolvePtqConfig(presetName);
    if (b.cle || b.adaround || b.biasCorrection !== 'none') problems.push(`--choices ${fmtChoice.name} with --preset ${presetName}: CLE, AdaRound and bias correction are integer-grid passes, not run on number formats; give a base preset without them`);
  }
  if (problems.length) throw new UsageError(problems.join('; '));
  const nPoints = count(opts.points, 'points', 10, 2);
  const nSens = count(opts.sensitivitySamples, 'sensitivity samples', 256);
  const nEval = count(opts.samples, 'samples', 1000);
  const spec = loadArch(opts.arch);
  if (fmtChoice) {
    // the format's layers and the integer ones side by side: PEs with both datapaths, refused before any work
    const el = resolvePtqConfig(fmtChoice.format!).format!.element;
    const why = operandFormatProblem(spec.name, spec, `${el} + int`);
    if (why) throw new UsageError(`--choices ${fmtChoice.name}: ${why}`);
  }
  const base = resolvePtqConfig(presetName);
  const progress = opts.onProgress ?? (() => {});
  const ptqOpts = spec.sfu ? { algorithms: spec.sfu } : {};

  const calib = calibrationSet(opts.data, opts.model, base);
  const sens = subset(calib, Math.min(nSens, calib.count));
  const { graph } = loadModel(opts.model);
  const fp32Sens = runFp32Batched(graph, sens);
  const signal = meanSquare(fp32Sens);

  // the reference: the widest choice, on every layer
  // (on a tie an integer choice: the reference network is then an integer one)
  const rank = (c: MixedChoice) => [c.wBits, c.aBits, c.format === undefined ? 1 : 0];
  const above = (a: number[], b: number[]) => a[0] > b[0] || (a[0] === b[0] && (a[1] > b[1] || (a[1] === b[1] && a[2] > b[2])));
  const ref = choices.reduce((best, c, i) => (above(rank(c), rank(choices[best])) ? i : best), 0);
  const measure = async (cfg: PtqConfig, set: EvalSet): Promise<{ outputs: Float32Array; energyPj: number; cycles: number; ev: ArchEvaluation }> => {
    const net = (await quantizeModel(opts.model, opts.data, cfg, ptqOpts, calib)).net;
    const ev = await evaluateOnArch(spec, net, set, { seed: base.seed });
    return { outputs: ev.outputs, energyPj: ev.result.totals.energyPj, cycles: ev.result.totals.cycles, ev };
  };

  const t0 = performance.now();
  const baseNet = (await quantizeModel(opts.model, opts.data, base, ptqOpts, calib)).net;
  const layers = baseNet.layers.filter((l) => l.kind === 'conv' || l.kind === 'gemm').map((l) => l.name);
  if (layers.length === 0) throw new UsageError(`${opts.model} has no conv / gemm layers to choose bits for`);
  const all = (c: number) => new Int32Array(layers.length).fill(c);
  const refAll = await measure(assignmentConfig(base, layers, choices, all(ref)), sens);
  const refNoise = mse(fp32Sens, refAll.outputs);
  const L = layers.length;
  const C = choices.length;
  const value = new Float64Array(L * C);
  const cost = new Float64Array(L * C);
  const table: MixedRow[] = [];
  const total = L * (C - 1);
  let done = 0;
  progress('sensitivity', 0, total);
  for (let l = 0; l < L; l++) {
    for (let c = 0; c < C; c++) {
      let noise = refNoise;
      let energyPj = refAll.energyPj;
      let cycles = refAll.cycles;
      if (c !== ref) {
        const pick = all(ref);
        pick[l] = c;
        const m = await measure(assignmentConfig(base, layers, choices, pick), sens);
        noise = mse(fp32Sens, m.outputs);
        energyPj = m.energyPj;
        cycles = m.cycles;
        progress('sensitivity', ++done, total);
      }
      value[l * C + c] = noise - refNoise;
      cost[l * C + c] = (objective === 'energy' ? energyPj - refAll.energyPj : cycles - refAll.cycles);
      table.push({ layer: layers[l], choice: choices[c].name, noise, energyPj, cycles });
    }
  }
  const tSens = performance.now() - t0;

  // the front: budgets from the cheapest assignment to the reference (or the caller's budget)
  const problem: AssignmentProblem = { layers: L, choices: C, value, cost };
  const refCost = objective === 'energy' ? refAll.energyPj : refAll.cycles;
  const range = costRange(problem);
  const cap = opts.budget ?? (opts.budgetFraction !== undefined ? opts.budgetFraction * refCost : null);
  const hi = Math.min(range.max, cap !== null ? cap - refCost : Infinity);
  if (hi < range.min) {
    const unit = objective === 'energy' ? 'pJ' : 'cycles';
    throw new UsageError(`budget ${cap!.toFixed(0)} ${unit}: the cheapest assignment costs ${(refCost + range.min).toFixed(0)} ${unit} per inference (the reference ${choices[ref].name} everywhere: ${refCost.toFixed(0)})`);
  }
  const budgets = Array.from({ length: nPoints }, (_, k) => range.min + ((hi - range.min) * k) / (nPoints - 1));
  const t1 = performance.now();
  const { front, solves, ms } = await paretoFront(problem, budgets);
  const tSolve = performance.now() - t1;

  // every point measured for real
  const t2 = performance.now();
  const evalSet = evaluationSet(opts.data, opts.model, nEval, 0);
  const fp32Eval = runFp32Batched(graph, evalSet);
  const fp32Top1 = evalSet.labels ? top1Of(fp32Eval, evalSet.count, evalSet.labels) : 1;
  const wanted: { kind: MixedPoint['kind']; pick: Int32Array; budget?: number }[] = [
    ...front.map((a) => ({ kind: 'front' as const, pick: a.choice, budget: a.budget + refCost })),
    ...choices.map((_, c) => ({ kind: 'uniform' as const, pick: all(c) })),
  ];
  const cache = new Map<string, { m: MixedMeasurement; hash: string }>();
  const points: MixedPoint[] = [];
  progress('evaluation', 0, wanted.length);
  for (const [i, w] of wanted.entries()) {
    const key = Array.from(w.pick).join(',');
    let hit = cache.get(key);
    if (!hit) {
      const cfg = assignmentConfig(base, layers, choices, w.pick);
      const m = await measure(cfg, evalSet);
      const correct = evalSet.labels ? m.ev.correct ?? 0 : 0;
      const r = m.ev.result.totals;
      hit = {
        hash: configHash(cfg),
        m: {
          top1: evalSet.labels ? correct / evalSet.count : agreementWithFp32(fp32Eval, m.ev.predictions, evalSet.count),
          sqnrDb: sqnrDb(fp32Eval, m.outputs),
          energyPj: r.energyPj,
          cycles: r.cycles,
          bitsMoved: Object.values(r.bits.dramBuffer).reduce((a, b) => a + b, 0) + Object.values(r.bits.bufferArray).reduce((a, b) => a + b, 0),
          weightBits: r.bits.dramBuffer.weights,
          overflows: r.overflows,
        },
      };
      cache.set(key, hit);
    }
    let noise = refNoise;
    let dc = 0;
    for (let l = 0; l < L; l++) {
      noise += value[l * C + w.pick[l]];
      dc += cost[l * C + w.pick[l]];
    }
    points.push({
      kind: w.kind,
      assignment: Array.from(w.pick, (c) => choices[c].name),
      predicted: { noise, sqnrDb: 10 * Math.log10(signal / Math.max(noise, 1e-30)), cost: refCost + dc },
      measured: hit.m,
      configHash: hit.hash,
      ...(w.budget !== undefined && { budget: w.budget }),
    });
    progress('evaluation', i + 1, wanted.length);
  }
  const tEval = performance.now() - t2;

  return {
    model: opts.model,
    arch: { name: spec.name, configHash: refAll.ev.result.arch.configHash },
    dataset: opts.data,
    splits: dataSplits(opts.data),
    preset: presetName,
    baseConfigHash: configHash(base),
    seed: base.seed,
    objective,
    budget: cap,
    choices,
    reference: choices[ref].name,
    layers,
    sensitivitySamples: sens.count,
    samples: evalSet.count,
    signal,
    referenceNoise: refNoise,
    table,
    fp32Top1,
    points,
    solver: { name: 'HiGHS', solves, ms },
    seconds: { sensitivity: tSens / 1000, solve: tSolve / 1000, evaluation: tEval / 1000 },
  };
}

/** A compact assignment: `conv1:w8a4 conv2:w8a8 …` with runs of the reference left out. */
export function assignmentLabel(r: Pick<MixedResult, 'layers' | 'reference'>, a: readonly string[]): string {
  const changed = a.map((c, l) => (c === r.reference ? '' : `${r.layers[l]}:${c}`)).filter(Boolean);
  return changed.length === 0 ? `all ${r.reference}` : changed.length === a.length && new Set(a).size === 1 ? `all ${a[0]}` : changed.join(' ');
}

/** The plot of a search: measured top-1 against the objective, the front and the uniform points. */
export function mixedPlotSpec(r: MixedResult): TopLevelSpec {
  const costOf = (m: MixedMeasurement) => (r.objective === 'energy' ? m.energyPj / 1e6 : m.cycles);
  const values = r.points.map((p) => ({ kind: p.kind === 'front' ? 'program front' : 'uniform', cost: costOf(p.measured), top1: 100 * p.measured.top1, label: assignmentLabel(r, p.assignment) }));
  const x = { field: 'cost', type: 'quantitative' as const, title: r.objective === 'energy' ? 'energy per inference (µJ, simulated)' : 'cycles per inference (simulated)', scale: { zero: false } };
  const y = { field: 'top1', type: 'quantitative' as const, title: `top-1 % (${r.samples} test images; FP32 ${(100 * r.fp32Top1).toFixed(2)} %)`, scale: { zero: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${r.model} on ${r.arch.name}: mixed precision (${r.choices.map((c) => c.name).join(', ')})`,
    width: 560,
    height: 340,
    data: { values },
    layer: [
      { mark: { type: 'line', point: true }, transform: [{ filter: "datum.kind === 'program front'" }], encoding: { x, y, color: { field: 'kind', type: 'nominal', title: null } } },
      { mark: { type: 'point', shape: 'square', size: 80, filled: true }, transform: [{ filter: "datum.kind === 'uniform'" }], encoding: { x, y, color: { field: 'kind', type: 'nominal', title: null } } },
      { mark: { type: 'text', align: 'left', dx: 6, dy: -6, fontSize: 9 }, encoding: { x, y, text: { field: 'label' } } },
    ],
  } as TopLevelSpec;
}

/**
 * A scenario file that evaluates a search's points as a grid (`qloom scenario <file>`): one `ptq:`
 * entry per distinct assignment (the base preset, `layers:` with each layer's bits — the same
 * config hash as the search's point), on `archs` (default: the search's) — how the assignment one
 * arch's costs chose fares on others.
 */
export function mixedScenario(r: MixedResult, archs: readonly string[] = [r.arch.name]): Record<string, unknown> {
  const base = resolvePtqConfig(r.preset);
  const seen = new Set<string>();
  const ptq: Record<string, unknown>[] = [];
  const onFormat = (p: MixedPoint) => p.assignment.some((a) => r.choices.find((c) => c.name === a)?.format !== undefined);
  for (const p of r.points) {
    // a scenario's ptq entries cannot keep layers on integers inside a format network: left out
    if (seen.has(p.configHash) || onFormat(p)) continue;
    seen.add(p.configHash);
    const cfg = assignmentConfig(base, r.layers, r.choices, p.assignment.map((a) => r.choices.findIndex((c) => c.name === a)));
    const layers = Object.keys(cfg.overrides).length ? { layers: cfg.overrides } : {};
    ptq.push({ preset: r.preset, label: `${new Set(p.assignment).size === 1 ? 'uniform' : 'mixed'}: ${assignmentLabel(r, p.assignment)}`, ...layers });
  }
  return {
    name: `mixed-${r.model}`,
    description: `The assignments \`qloom mixed\` found for ${r.model} on ${r.arch.name} (choices ${r.choices.map((c) => c.name).join(', ')}, objective ${r.objective}) and the uniform choices, evaluated as a grid${r.points.some(onFormat) ? ' (points on a number format are left out: mixed.json has them)' : ''}.`,
    seed: r.seed,
    runner: 'qloom',
    networks: [r.model],
    ptq,
    archs: [...archs],
    metrics: ['accuracy', 'sqnrDb', 'cycles', 'energyPj', 'energyByComponent', 'bitsMoved', 'bitsByClass', 'paramBytes', 'note'],
    data: { dataset: r.dataset, samples: r.samples },
    report: {
      plots: [
        { title: 'accuracy vs energy per inference', x: 'energyPj', y: 'accuracy', color: 'ptq', column: 'arch', mark: 'point' },
        { title: 'accuracy vs cycles per inference', x: 'cycles', y: 'accuracy', color: 'ptq', column: 'arch', mark: 'point' },
      ],
    },
  };
}

/** `<dir>/mixed.json`, `<dir>/mixed.svg` and `<dir>/scenario.yaml` (mixedScenario), all or none. */
export async function writeMixedResult(r: MixedResult, dir: string): Promise<{ json: string; svg: string; scenario: string }> {
  const json = join(dir, 'mixed.json');
  const svg = join(dir, 'mixed.svg');
  const scenario = join(dir, 'scenario.yaml');
  const plot = await renderSvg(mixedPlotSpec(r));
  writeFilesAtomic([
    { path: json, data: JSON.stringify(r, null, 2) + '\n' },
    { path: svg, data: plot },
    { path: scenario, data: `# written by qloom mixed: \`qloom scenario ${scenario}\` evaluates these points as a grid\n${stringifyYaml(mixedScenario(r), { lineWidth: 0 })}` },
  ]);
  return { json, svg, scenario };
}
