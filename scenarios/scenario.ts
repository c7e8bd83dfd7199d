/**
 * Declarative scenario files: what to run (networks × PTQ settings × architectures × sweep axes),
 * which metrics to collect and how to report them. `loadScenario` validates a whole file ONCE,
 * before any work, and throws one ConfigError listing every problem with its path; `expandPoints`
 * (points.ts) turns a valid scenario into frozen point configs, each identified by a stable
 * `configHash`. Sweep axes and their checks are in axes.ts.
 *
 * Schema (YAML or JSON):
 * ```yaml
 * name: dse
 * description: free text
 * seed: 1
 * runner: synthetic            # a registered point-runner kind (runners.ts) or a module path
 * networks: [fmnist-cnn]       # nets/zoo names
 * ptq: [w8a8-pc, {preset: w8a8-pt, symmetric: false, label: asym}]
 * archs: [edge-npu, {name: mine, array: {rows: 8, cols: 8}, memories: {glb: {capacity: 64 KiB}}}]
 * axes:                        # cartesian product, last axis varies fastest
 *   array.shape: [8x8, 16x16]
 *   memories.glb.capacity: [64 KiB, 256 KiB]
 *   ptq.weightBits: [8, 4]
 * metrics: [cycles, energyPj]
 * data: {dataset: auto, samples: 1000}
 * report:
 *   plots: [{x: array.shape, y: cycles, color: network, mark: point}]
 *   pareto: {objectives: {latencyS: min, energyPj: min}, groupBy: [network]}
 * ```
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDataFile } from '../arch/energy.js';
import { ConfigError, type Problem } from '../arch/errors.js';
import { PRESETS } from '../arch/presets.js';
import { type ArchSpec, PRESET_NAMES, validateArchSpec } from '../arch/spec.js';
import { checkKeys, deepFreeze, describe, didYouMean, isPlainObject, joinPath } from '../arch/validate.js';
import { listModels, readDiffusionManifest, type EvalDataset } from '../nets/zoo/index.js';
import { ARCH_AXES, AXIS_PATHS, checkAxisValue } from './axes.js';
import { dimValues, readFindings, type FindingsSpec } from './findings.js';
import { expandConfigs } from './points.js';
import { PTQ_FIELD_NAMES, type PtqEntry, type PtqField, type PtqSettings, checkPtqValue, readPtqEntry } from './ptq.js';
import { runnerKinds } from './runners.js';
import { readSearch, type SearchSpec } from './search.js';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue };

export const BUILTIN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'builtin');

// ---------------------------------------------------------------------------------------------
// Metrics

export type MetricShape = 'scalar' | 'map' | 'text' | 'image';
export interface MetricInfo {
  readonly shape: MetricShape;
  readonly unit: string;
  readonly description: string;
}

/** every metric a scenario may ask for; `map` metrics are objects keyed by layer or component */
export const METRICS: Readonly<Record<string, MetricInfo>> = Object.freeze({
  top1: { shape: 'scalar', unit: 'fraction', description: 'top-1 accuracy on the labelled split' },
  agreement: { shape: 'scalar', unit: 'fraction', description: 'top-1 agreement with FP32 (unlabelled photos)' },
  accuracy: { shape: 'scalar', unit: 'fraction', description: 'top1 where labels exist, else agreement' },
  sqnrDb: { shape: 'scalar', unit: 'dB', description: 'output SQNR against FP32' },
  cycles: { shape: 'scalar', unit: 'cycles', description: 'cycles per sample (batch 1)' },
  stallCycles: { shape: 'scalar', unit: 'cycles', description: 'stall cycles per sample, all causes' },
  latencyS: { shape: 'scalar', unit: 's', description: 'cycles / clock, per sample' },
  utilization: { shape: 'scalar', unit: 'fraction', description: 'MACs / (PEs · cycles)' },
  macs: { shape: 'scalar', unit: 'MACs', description: 'multiply-accumulates per sample' },
  energyPj: { shape: 'scalar', unit: 'pJ', description: 'energy per sample' },
  energyByComponent: { shape: 'map', unit: 'pJ', description: 'energy per sample by component' },
  edp: { shape: 'scalar', unit: 'pJ·s', description: 'energy-delay product per sample' },
  bitsMoved: { shape: 'scalar', unit: 'bits', description: 'bits moved per sample, all levels and tensor classes' },
  dramBytes: { shape: 'scalar', unit: 'bytes', description: 'DRAM bytes read and written per sample' },
  bitsByClass: { shape: 'map', unit: 'bits', description: 'bits moved per sample by tensor class (incl. requant parameters)' },
  requantParamBits: { shape: 'scalar', unit: 'bits', description: 'requant parameter bits moved per sample' },
  paramBytes: { shape: 'scalar', unit: 'bytes', description: 'parameter storage incl. scales and requant parameters' },
  areaMm2: { shape: 'scalar', unit: 'mm²', description: 'silicon area of the arch at 45 nm (arch/area.ts: PE array by operand format, buffers, requant unit, SFU)' },
  overflows: {
    shape: 'scalar',
    unit: 'events',
    description: 'overflow events, all samples, at every accumulator: in-array partial sums (psumBits; os: the PE registers) and the accumulator',
  },
  overflowsPerSample: { shape: 'scalar', unit: 'events', description: 'overflows / samples' },
  overflowsBy: { shape: 'map', unit: 'events', description: 'overflows (all samples) by accumulator: array (partial sums at psumBits), accumulator (accumulator bits)' },
  overflowRate: { shape: 'scalar', unit: 'fraction', description: 'overflows / adds of the same accumulators (in-array: one per MAC; accumulator: bias, K tiles, z_w step)' },
  overflowRateByLayer: { shape: 'map', unit: 'fraction', description: 'overflow rate per layer' },
  minSafeAccBits: { shape: 'map', unit: 'bits', description: 'A2Q minimum safe accumulator width per layer' },
  note: { shape: 'text', unit: 'text', description: 'why metrics of a point are null (an unsupported combination), else empty' },
  fid: { shape: 'scalar', unit: 'FID', description: "diffusion: Fréchet distance of the generated images to the real test split on mnist-mlp's penultimate features (not Inception-FID)" },
  confidence: { shape: 'scalar', unit: 'fraction', description: 'diffusion: the feature classifier\'s mean top-1 probability on the generated images' },
  energyPerImagePj: { shape: 'scalar', unit: 'pJ', description: 'diffusion: energy per generated image (steps × one UNet evaluation)' },
  cyclesPerImage: { shape: 'scalar', unit: 'cycles', description: 'diffusion: cycles per generated image' },
  dramBytesPerImage: { shape: 'scalar', unit: 'bytes', description: 'diffusion: DRAM bytes per generated image' },
  samplesPng: { shape: 'image', unit: 'PNG', description: 'diffusion: a grid of the first generated images (data: URL), shown in report.html' },
});
export const METRIC_NAMES: readonly string[] = Object.freeze(Object.keys(METRICS));

// ---------------------------------------------------------------------------------------------
// Report settings

export type Goal = 'min' | 'max';
export type PlotMark = 'point' | 'line' | 'bar';
export interface PlotSpec {
  readonly title: string;
  readonly x: string;
  readonly y: string;
  readonly color: string | null;
  readonly column: string | null;
  /** a second facet: one row of panels per value (optional) */
  readonly row?: string | null;
  readonly mark: PlotMark;
  readonly xScale: 'linear' | 'log';
  readonly yScale: 'linear' | 'log';
}
export interface ParetoSpec {
  readonly objectives: readonly { readonly metric: string; readonly goal: Goal }[];
  readonly groupBy: readonly string[];
}
export interface ReportSpec {
  /** empty: the report picks default plots */
  readonly plots: readonly PlotSpec[];
  readonly pareto: ParetoSpec | null;
}

// ---------------------------------------------------------------------------------------------
// The validated scenario

export type DataChoice = 'auto' | EvalDataset;
export const DATA_CHOICES: readonly DataChoice[] = Object.freeze(['auto', 'mnist', 'fmnist', 'photos', 'orientation']);

export interface ArchEntry {
  readonly label: string;
  /** the preset name, or null for an inline spec */
  readonly preset: string | null;
  /** ArchSpecInput form: axes are applied to it before validation */
  readonly input: { readonly [k: string]: JsonValue };
}

export interface Axis {
  readonly path: string;
  readonly values: readonly JsonValue[];
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly seed: number;
  /** point-runner kind or module path (runners.ts) */
  readonly runner: string;
  /** the file it was read from, as given (documentation; not part of any hash) */
  readonly source: string | null;
  readonly networks: readonly string[];
  readonly ptq: readonly PtqEntry[];
  readonly archs: readonly ArchEntry[];
  readonly axes: readonly Axis[];
  readonly metrics: readonly string[];
  /** samples per point; `samplesByNetwork` overrides it for the networks it names */
  readonly data: { readonly dataset: DataChoice; readonly samples: number; readonly samplesByNetwork: { readonly [network: string]: number } };
  readonly report: ReportSpec;
  /** the question and the comparisons that answer it (findings.ts); null when the file declares none */
  readonly findings: FindingsSpec | null;
  /** evaluate a budget of the points instead of all (search.ts); absent for a grid */
  readonly search?: SearchSpec;
}

/** Everything one sweep point needs, frozen plain JSON; what a point runner receives. */
export interface PointConfig {
  readonly scenario: string;
  readonly runner: string;
  readonly seed: number;
  readonly network: string;
  readonly dataset: EvalDataset;
  readonly samples: number;
  readonly archLabel: string;
  readonly arch: ArchSpec;
  readonly ptqLabel: string;
  readonly ptq: PtqSettings;
  /** this point's value of each sweep axis, keyed by axis path, as written in the file */
  readonly axes: { readonly [path: string]: JsonValue };
  readonly metrics: readonly string[];
}

export interface Point {
  /** position in the cartesian expansion: results are ordered by it */
  readonly index: number;
  readonly configHash: string;
  readonly config: PointConfig;
}

const TOP_KEYS = ['name', 'description', 'seed', 'runner', 'networks', 'ptq', 'archs', 'axes', 'metrics', 'data', 'report', 'findings', 'search'];

/** Names of the built-in scenario files (`scenarios/builtin/*.yaml`). */
export function builtinScenarios(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => basename(f, extname(f)))
    .sort();
}

/**
 * A built-in scenario by name (`dse`) or a `.yaml`/`.yml`/`.json` file, validated. Throws ONE
 * ConfigError naming the file and listing every problem.
 */
export function loadScenario(fileOrName: string): Scenario {
  let file = fileOrName;
  if (!existsSync(file)) {
    const builtin = join(BUILTIN_DIR, `${fileOrName}.yaml`);
    if (/^[\w-]+$/.test(fileOrName) && existsSync(builtin)) file = builtin;
    else {
      const names = builtinScenarios();
      const hint = didYouMean(fileOrName, names);
      throw new ConfigError(`no such scenario file or built-in scenario${hint ? ` (did you mean "${hint}"?)` : ''}; built-in: ${names.join(', ')}`, fileOrName);
    }
  }
  const doc = readDataFile(file, /\.json$/i.test(file) ? 'json' : 'yaml');
  return validateScenario(doc, { source: fileOrName, baseDir: dirname(resolve(file)), defaultName: basename(file, extname(file)) });
}

export interface ValidateOptions {
  source?: string;
  /** folder that relative runner module paths resolve against */
  baseDir?: string;
  defaultName?: string;
}

/** Validates a parsed scenario document; every problem in one ConfigError. Returns it frozen. */
export function validateScenario(doc: unknown, opts: ValidateOptions = {}): Scenario {
  const problems: Problem[] = [];
  const source = opts.source;
  if (!isPlainObject(doc)) throw new ConfigError(`expected a scenario object at the top level, got ${describe(doc)}`, source);
  checkKeys(doc, '', TOP_KEYS, problems);

  const name = doc.name ?? opts.defaultName;
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) problems.push({ path: 'name', message: `expected a name of letters, digits, '.', '_' or '-', got ${describe(name)}` });
  const description = doc.description ?? '';
  if (typeof description !== 'string') problems.push({ path: 'description', message: `expected a string, got ${describe(description)}` });
  const seed = doc.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    problems.push({ path: 'seed', message: seed === undefined ? 'is required (an integer 0…2^32−1; results are reproducible from it)' : `expected an integer 0…2^32−1, got ${describe(seed)}` });
  }

  // runner
  let runner = '';
  if (typeof doc.runner !== 'string' || doc.runner === '') {
    problems.push({ path: 'runner', message: `is required: a point-runner kind (${runnerKinds().join(', ')}) or a module path` });
  } else if (/[\\/]|\.[cm]?[jt]s$/.test(doc.runner)) {
    runner = isAbsolute(doc.runner) ? doc.runner : resolve(opts.baseDir ?? process.cwd(), doc.runner);
    if (!existsSync(runner)) problems.push({ path: 'runner', message: `module ${describe(doc.runner)} does not exist (${runner})` });
  } else if (!runnerKinds().includes(doc.runner)) {
    const hint = didYouMean(doc.runner, runnerKinds());
    problems.push({ path: 'runner', message: `unknown point runner ${describe(doc.runner)}${hint ? ` (did you mean "${hint}"?)` : ''}; registered: ${runnerKinds().join(', ')}` });
  } else runner = doc.runner;

  // networks
  // classifiers, and the diffusion models (scored on their data set's classifier)
  const zoo = [...listModels(), ...Object.entries(readDiffusionManifest()).map(([name, d]) => ({ name, dataset: d.dataset as EvalDataset }))];
  const zooNames = zoo.map((m) => m.name);
  const datasetOf = new Map<string, EvalDataset>(zoo.map((m) => [m.name, m.dataset]));
  const networks: string[] = [];
  if (!Array.isArray(doc.networks) || doc.networks.length === 0) {
    problems.push({ path: 'networks', message: `expected a non-empty list of model names (${zooNames.join(', ')})` });
  } else {
    doc.networks.forEach((n: unknown, i: number) => {
      if (typeof n === 'string' && zooNames.includes(n)) networks.push(n);
      else {
        const hint = typeof n === 'string' ? didYouMean(n, zooNames) : undefined;
        problems.push({ path: `networks[${i}]`, message: `unknown network ${describe(n)}${hint ? ` (did you mean "${hint}"?)` : ''}; models: ${zooNames.join(', ')}` });
      }
    });
  }

  // ptq
  const ptq: PtqEntry[] = [];
  /** each valid entry's index in the file's list (problems name the file's positions) */
  const ptqAt: number[] = [];
  const ptqDoc = doc.ptq ?? ['w8a8-pt'];
  if (!Array.isArray(ptqDoc) || ptqDoc.length === 0) problems.push({ path: 'ptq', message: 'expected a non-empty list of PTQ presets or settings' });
  else
    ptqDoc.forEach((e: unknown, i: number) => {
      const entry = readPtqEntry(e, `ptq[${i}]`, problems);
      if (entry) {
        ptq.push(entry);
        ptqAt.push(i);
      }
    });

  // archs
  const archs: ArchEntry[] = [];
  if (!Array.isArray(doc.archs) || doc.archs.length === 0) {
    problems.push({ path: 'archs', message: `expected a non-empty list of arch presets (${PRESET_NAMES.join(', ')}) or inline specs` });
  } else {
    doc.archs.forEach((a: unknown, i: number) => {
      const path = `archs[${i}]`;
      if (typeof a === 'string') {
        if (Object.hasOwn(PRESETS, a)) archs.push({ label: a, preset: a, input: structuredClone(PRESETS[a]) as unknown as ArchEntry['input'] });
        else {
          const hint = didYouMean(a, PRESET_NAMES);
          problems.push({ path, message: `unknown arch preset ${describe(a)}${hint ? ` (did you mean "${hint}"?)` : ''}; presets: ${PRESET_NAMES.join(', ')}` });
        }
      } else if (isPlainObject(a)) {
        const before = problems.length;
        try {
          validateArchSpec(a, source);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          for (const p of e.problems) problems.push({ path: p.path ? `${path}.${p.path}` : path, message: p.message });
        }
        if (problems.length === before) archs.push({ label: String(a.name), preset: null, input: structuredClone(a) as ArchEntry['input'] });
      } else problems.push({ path, message: `expected an arch preset name or an inline spec object, got ${describe(a)}` });
    });
  }

  // axes
  const axes: Axis[] = [];
  if (doc.axes !== undefined && !isPlainObject(doc.axes)) problems.push({ path: 'axes', message: `expected an object {<path>: [values…]}, got ${describe(doc.axes)}` });
  else if (doc.axes) {
    for (const [path, values] of Object.entries(doc.axes)) {
      const p = `axes[${JSON.stringify(path)}]`;
      const arch = ARCH_AXES[path];
      const ptqField = path.startsWith('ptq.') ? (PTQ_FIELD_NAMES as readonly string[]).find((f) => `ptq.${f}` === path) : undefined;
      if (!arch && !ptqField) {
        const hint = didYouMean(path, AXIS_PATHS);
        problems.push({ path: p, message: `unknown axis${hint ? ` (did you mean "${hint}"?)` : ''}; axes: ${AXIS_PATHS.join(', ')}` });
        continue;
      }
      if (!Array.isArray(values) || values.length === 0) {
        problems.push({ path: p, message: `expected a non-empty list of values, got ${describe(values)}` });
        continue;
      }
      const before = problems.length;
      values.forEach((v: unknown, i: number) => {
        if (arch) checkAxisValue(arch.check, v, `${p}[${i}]`, problems);
        else checkPtqValue(ptqField as PtqField, v, `${p}[${i}]`, problems);
      });
      if (problems.length === before) axes.push({ path, values: values as JsonValue[] });
      if (ptqField) ptq.forEach((e, i) => e.overrides.qat && problems.push({ path: p, message: `ptq[${ptqAt[i]}] is a QAT entry (${e.overrides.qat}), whose settings are its preset's: sweep PTQ fields over PTQ entries only, list QAT presets as entries` }));
    }
  }

  // metrics
  const metrics: string[] = [];
  if (!Array.isArray(doc.metrics) || doc.metrics.length === 0) problems.push({ path: 'metrics', message: `expected a non-empty list of metrics (${METRIC_NAMES.join(', ')})` });
  else
    doc.metrics.forEach((m: unknown, i: number) => {
      if (typeof m === 'string' && Object.hasOwn(METRICS, m)) {
        if (!metrics.includes(m)) metrics.push(m);
      } else {
        const hint = typeof m === 'string' ? didYouMean(m, METRIC_NAMES) : undefined;
        problems.push({ path: `metrics[${i}]`, message: `unknown metric ${describe(m)}${hint ? ` (did you mean "${hint}"?)` : ''}; metrics: ${METRIC_NAMES.join(', ')}` });
      }
    });

  // data
  let data: Scenario['data'] = { dataset: 'auto', samples: 1000, samplesByNetwork: {} };
  if (doc.data !== undefined) {
    if (!isPlainObject(doc.data)) problems.push({ path: 'data', message: `expected {dataset, samples, samplesByNetwork?}, got ${describe(doc.data)}` });
    else {
      checkKeys(doc.data, 'data', ['dataset', 'samples', 'samplesByNetwork'], problems);
      const ds = doc.data.dataset ?? 'auto';
      const samples = doc.data.samples ?? 1000;
      let ok = true;
      if (typeof ds !== 'string' || !(DATA_CHOICES as readonly string[]).includes(ds)) {
        ok = false;
        const hint = typeof ds === 'string' ? didYouMean(ds, DATA_CHOICES) : undefined;
        problems.push({ path: 'data.dataset', message: `${describe(ds)} is not one of: ${DATA_CHOICES.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}` });
      }
      const positive = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1;
      if (!positive(samples)) {
        ok = false;
        problems.push({ path: 'data.samples', message: `expected a positive integer, got ${describe(samples)}` });
      }
      const byNet: Record<string, number> = {};
      const sbn = doc.data.samplesByNetwork;
      if (sbn !== undefined) {
        if (!isPlainObject(sbn)) {
          ok = false;
          problems.push({ path: 'data.samplesByNetwork', message: `expected {<network>: samples, …}, got ${describe(sbn)}` });
        } else
          for (const [n, v] of Object.entries(sbn)) {
            const path = joinPath('data.samplesByNetwork', n);
            if (!networks.includes(n)) {
              ok = false;
              const hint = didYouMean(n, networks);
              problems.push({ path, message: `${describe(n)} is not a network of this scenario${hint ? ` (did you mean "${hint}"?)` : ''}; networks: ${networks.join(', ')}` });
            } else if (!positive(v)) {
              ok = false;
              problems.push({ path, message: `expected a positive integer, got ${describe(v)}` });
            } else byNet[n] = v as number;
          }
      }
      if (ok) {
        data = { dataset: ds as DataChoice, samples: samples as number, samplesByNetwork: byNet };
        if (ds !== 'auto') {
          networks.forEach((n) => {
            const own = datasetOf.get(n);
            if (own !== ds) {
              problems.push({ path: 'data.dataset', message: `${describe(ds)} does not fit network ${n} (it takes ${own}); use auto` });
            }
          });
        }
      }
    }
  }

  // report
  const dims = ['network', 'arch', 'ptq', ...axes.map((a) => a.path)];
  const report = readReport(doc.report, dims, metrics, problems);
  const search = readSearch(doc.search, metrics, problems);
  const findings = readFindings(doc.findings, dimValues({ networks, archs, ptq, axes }), metrics, METRICS, problems);

  if (problems.length > 0) throw new ConfigError(problems, source);

  const scenario: Scenario = {
    name: name as string,
    description: description as string,
    seed: seed as number,
    runner,
    source: source ?? null,
    networks,
    ptq,
    archs,
    axes,
    metrics,
    data,
    report,
    findings,
    // only when declared: a grid's results.json keeps its bytes
    ...(search ? { search } : {}),
  };
  // Every point's arch must validate too (an axis value can clash with a base spec, e.g. a glb
  // capacity on a split-buffer arch): checked here, still before any work.
  const pointProblems: Problem[] = [];
  expandConfigs(scenario, datasetOf, pointProblems);
  if (pointProblems.length > 0) throw new ConfigError(pointProblems, source);
  return deepFreeze(scenario);
}

function readReport(v: unknown, dims: readonly string[], metrics: readonly string[], problems: Problem[]): ReportSpec {
  const empty: ReportSpec = { plots: [], pareto: null };
  if (v === undefined) return empty;
  if (!isPlainObject(v)) {
    problems.push({ path: 'report', message: `expected {plots, pareto}, got ${describe(v)}` });
    return empty;
  }
  checkKeys(v, 'report', ['plots', 'pareto'], problems);
  const fields = [...dims, ...metrics];
  const checkField = (f: unknown, path: string, metricOnly: boolean): string | null => {
    const allowed = metricOnly ? metrics : fields;
    if (typeof f === 'string') {
      if (allowed.includes(f)) return f;
      // `energyByComponent.dram`: one key of a map metric
      const dot = f.indexOf('.');
      if (dot > 0 && metrics.includes(f.slice(0, dot)) && METRICS[f.slice(0, dot)].shape === 'map') return f;
    }
    const hint = typeof f === 'string' ? didYouMean(f, allowed) : undefined;
    problems.push({
      path,
      message: `${describe(f)} is not ${metricOnly ? 'a metric of this scenario' : 'a dimension or metric of this scenario'}${hint ? ` (did you mean "${hint}"?)` : ''}; ${metricOnly ? 'metrics' : 'fields'}: ${allowed.join(', ')}`,
    });
    return null;
  };
  const plots: PlotSpec[] = [];
  if (v.plots !== undefined) {
    if (!Array.isArray(v.plots)) problems.push({ path: 'report.plots', message: `expected a list, got ${describe(v.plots)}` });
    else
      v.plots.forEach((p: unknown, i: number) => {
        const path = `report.plots[${i}]`;
        if (!isPlainObject(p)) {
          problems.push({ path, message: `expected {x, y, color?, column?, row?, mark?, title?}, got ${describe(p)}` });
          return;
        }
        checkKeys(p, path, ['title', 'x', 'y', 'color', 'column', 'row', 'mark', 'xScale', 'yScale'], problems);
        const before = problems.length;
        const x = checkField(p.x, `${path}.x`, false);
        const y = checkField(p.y, `${path}.y`, true);
        const color = p.color === undefined ? null : checkField(p.color, `${path}.color`, false);
        const column = p.column === undefined ? null : checkField(p.column, `${path}.column`, false);
        const row = p.row === undefined ? null : checkField(p.row, `${path}.row`, false);
        const mark = p.mark ?? 'point';
        if (!['point', 'line', 'bar'].includes(mark as string)) problems.push({ path: `${path}.mark`, message: `${describe(mark)} is not one of: point, line, bar` });
        for (const k of ['xScale', 'yScale'] as const) {
          if (p[k] !== undefined && p[k] !== 'linear' && p[k] !== 'log') problems.push({ path: `${path}.${k}`, message: `${describe(p[k])} is not one of: linear, log` });
        }
        if (p.title !== undefined && typeof p.title !== 'string') problems.push({ path: `${path}.title`, message: `expected a string, got ${describe(p.title)}` });
        if (problems.length > before) return;
        plots.push({
          title: (p.title as string | undefined) ?? `${y} vs ${x}`,
          x: x!,
          y: y!,
          color,
          column,
          row,
          mark: mark as PlotMark,
          xScale: (p.xScale as 'linear' | 'log' | undefined) ?? 'linear',
          yScale: (p.yScale as 'linear' | 'log' | undefined) ?? 'linear',
        });
      });
  }
  let pareto: ParetoSpec | null = null;
  if (v.pareto !== undefined) {
    const pv = v.pareto;
    if (!isPlainObject(pv) || !isPlainObject(pv.objectives)) problems.push({ path: 'report.pareto', message: 'expected {objectives: {<metric>: min|max, …}, groupBy?: [fields]}' });
    else {
      checkKeys(pv, 'report.pareto', ['objectives', 'groupBy'], problems);
      const objectives: { metric: string; goal: Goal }[] = [];
      const entries = Object.entries(pv.objectives as Record<string, unknown>);
      if (entries.length < 2) problems.push({ path: 'report.pareto.objectives', message: 'a Pareto front needs at least two objectives' });
      for (const [m, goal] of entries) {
        const path = joinPath('report.pareto.objectives', m);
        const metric = checkField(m, path, true);
        if (goal !== 'min' && goal !== 'max') problems.push({ path, message: `${describe(goal)} is not one of: min, max` });
        else if (metric) objectives.push({ metric, goal });
      }
      const groupBy: string[] = [];
      if (pv.groupBy !== undefined) {
        if (!Array.isArray(pv.groupBy)) problems.push({ path: 'report.pareto.groupBy', message: `expected a list of fields, got ${describe(pv.groupBy)}` });
        else
          pv.groupBy.forEach((g: unknown, i: number) => {
            if (typeof g === 'string' && dims.includes(g)) groupBy.push(g);
            else problems.push({ path: `report.pareto.groupBy[${i}]`, message: `${describe(g)} is not a dimension of this scenario; dimensions: ${dims.join(', ')}` });
          });
      }
      pareto = { objectives, groupBy };
    }
  }
  return { plots, pareto };
}

