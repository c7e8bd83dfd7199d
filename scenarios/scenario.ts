/**
 * Declarative scenario files: what to run (networks × PTQ settings × architectures × sweep axes),
 * which metrics to collect and how to report them. `loadScenario` validates a whole file ONCE,
 * before any work, and throws one ConfigError listing every problem with its path; `expandPoints`
 * turns a valid scenario into frozen point configs, each identified by a stable `configHash`.
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
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type Problem } from '../arch/errors.js';
import { PRESETS } from '../arch/presets.js';
import {
  type ArchSpec,
  DATAFLOWS,
  DRAM_MODES,
  FUSED_ACTIVATIONS,
  MEMORY_MODELS,
  OVERFLOW_POLICIES,
  PE_FORMS,
  PRESET_NAMES,
  validateArchSpec,
} from '../arch/spec.js';
import { type QuantityKind, parseQuantity } from '../arch/units.js';
import { canonicalJson, checkKeys, deepFreeze, describe, didYouMean, isPlainObject, joinPath, sha256 } from '../arch/validate.js';
import { listModels, type EvalDataset } from '../nets/zoo/index.js';
import { PTQ_FIELD_NAMES, type PtqEntry, type PtqField, type PtqSettings, checkPtqSettings, checkPtqValue, readPtqEntry, resolvePtq } from './ptq.js';
import { runnerKinds } from './runners.js';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue };

export const BUILTIN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'builtin');

/**
 * Part of every configHash: a point cached by other code is not reused. The fingerprint covers
 * every source and model file of the folders a point's numbers come from (nets, quant, sim, arch,
 * scenarios), so a change to a kernel, a pass or the engine invalidates the cache by itself.
 */
export const CODE_VERSION: string = (() => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mjs|json|onnx|yaml)$/.test(e.name)) files.push(p);
    }
  };
  for (const d of ['nets', 'quant', 'sim', 'arch', 'scenarios']) walk(join(root, d));
  files.sort();
  const h = createHash('sha256');
  for (const f of files) h.update(f.slice(root.length)).update('\0').update(readFileSync(f)).update('\0');
  return `qloom@${pkg.version}/${h.digest('hex').slice(0, 16)}`;
})();

// ---------------------------------------------------------------------------------------------
// Metrics

export type MetricShape = 'scalar' | 'map' | 'text';
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
  bitsByClass: { shape: 'map', unit: 'bits', description: 'bits moved per sample by tensor class (incl. requant parameters)' },
  requantParamBits: { shape: 'scalar', unit: 'bits', description: 'requant parameter bits moved per sample' },
  paramBytes: { shape: 'scalar', unit: 'bytes', description: 'parameter storage incl. scales and requant parameters' },
  overflows: { shape: 'scalar', unit: 'events', description: 'accumulator overflow events per sample' },
  overflowRate: { shape: 'scalar', unit: 'fraction', description: 'overflowing accumulations / accumulations' },
  overflowRateByLayer: { shape: 'map', unit: 'fraction', description: 'overflow rate per layer' },
  minSafeAccBits: { shape: 'map', unit: 'bits', description: 'A2Q minimum safe accumulator width per layer' },
  note: { shape: 'text', unit: 'text', description: 'why metrics of a point are null (an unsupported combination), else empty' },
});
export const METRIC_NAMES: readonly string[] = Object.freeze(Object.keys(METRICS));

// ---------------------------------------------------------------------------------------------
// Sweep axes

type AxisCheck =
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'quantity'; readonly quantity: QuantityKind }
  | { readonly kind: 'bool' }
  | { readonly kind: 'shape' }
  | { readonly kind: 'fused' };

interface ArchAxis {
  readonly check: AxisCheck;
  /** sibling keys that state the same quantity another way: removed so the new value rules */
  readonly replaces: readonly string[];
}

const ARCH_AXES: Readonly<Record<string, ArchAxis>> = (() => {
  const int = (min: number, max: number): AxisCheck => ({ kind: 'int', min, max });
  const axes: Record<string, ArchAxis> = {
    clock: { check: { kind: 'quantity', quantity: 'frequency' }, replaces: ['clockHz'] },
    'array.rows': { check: int(1, 65536), replaces: ['array.pes'] },
    'array.cols': { check: int(1, 65536), replaces: ['array.pes'] },
    /** "RxC": rows and cols together, so a sweep over shapes is one axis, not a product */
    'array.shape': { check: { kind: 'shape' }, replaces: ['array.pes'] },
    'array.dataflow': { check: { kind: 'enum', values: DATAFLOWS }, replaces: [] },
    'operands.weightBits': { check: int(2, 16), replaces: ['pe.weightOperandBits'] },
    'operands.activationBits': { check: int(2, 16), replaces: ['pe.activationOperandBits'] },
    'accumulator.bits': { check: int(8, 64), replaces: [] },
    'accumulator.overflow': { check: { kind: 'enum', values: OVERFLOW_POLICIES }, replaces: [] },
    'accumulator.psumBits': { check: int(8, 64), replaces: [] },
    'pe.form': { check: { kind: 'enum', values: PE_FORMS }, replaces: ['pe.weightOperandBits', 'pe.activationOperandBits'] },
    'memories.dram.bandwidth': { check: { kind: 'quantity', quantity: 'rate' }, replaces: ['memories.dram.bandwidthBytesPerS', 'memories.dram.bytesPerCycle'] },
    'memories.dram.latency': { check: { kind: 'quantity', quantity: 'time' }, replaces: ['memories.dram.latencyS', 'memories.dram.latencyCycles'] },
    'memories.dram.mode': { check: { kind: 'enum', values: DRAM_MODES }, replaces: [] },
    'requant.fused': { check: { kind: 'fused' }, replaces: [] },
    'requant.perChannel': { check: { kind: 'bool' }, replaces: [] },
    'requant.lutEntries': { check: int(2, 65536), replaces: [] },
    'requant.lanesPerCycle': { check: int(1, 65536), replaces: [] },
    'requant.multiplierBits': { check: int(2, 32), replaces: [] },
    memoryModel: { check: { kind: 'enum', values: MEMORY_MODELS }, replaces: [] },
  };
  for (const b of ['glb', 'ifmap', 'filter', 'ofmap']) {
    const derived = [`memories.${b}.readBytesPerCycle`, `memories.${b}.writeBytesPerCycle`];
    axes[`memories.${b}.capacity`] = { check: { kind: 'quantity', quantity: 'size' }, replaces: [`memories.${b}.capacityBytes`] };
    axes[`memories.${b}.banks`] = { check: int(1, 4096), replaces: derived };
    axes[`memories.${b}.wordBits`] = { check: int(8, 4096), replaces: derived };
  }
  return Object.freeze(axes);
})();

/** every path a sweep axis may name: arch fields, and `ptq.<field>` */
export const AXIS_PATHS: readonly string[] = Object.freeze([...Object.keys(ARCH_AXES), ...PTQ_FIELD_NAMES.map((f) => `ptq.${f}`)]);

function checkAxisValue(c: AxisCheck, v: unknown, path: string, problems: Problem[]): void {
  switch (c.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < c.min || v > c.max) problems.push({ path, message: `expected an integer ${c.min}…${c.max}, got ${describe(v)}` });
      return;
    case 'enum':
      if (typeof v !== 'string' || !c.values.includes(v)) {
        const hint = typeof v === 'string' ? didYouMean(v, c.values) : undefined;
        problems.push({ path, message: `${describe(v)} is not one of: ${c.values.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}` });
      }
      return;
    case 'quantity': {
      const r = parseQuantity(v, c.quantity);
      if (!r.ok) problems.push({ path, message: r.message });
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') problems.push({ path, message: `expected true or false, got ${describe(v)}` });
      return;
    case 'shape':
      if (parseShape(v) === undefined) problems.push({ path, message: `expected an array shape "ROWSxCOLS" such as "16x16", got ${describe(v)}` });
      return;
    case 'fused':
      if (typeof v === 'boolean') return;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !(FUSED_ACTIVATIONS as readonly string[]).includes(x))) {
        problems.push({ path, message: `expected true, false or a list of: ${FUSED_ACTIVATIONS.join(', ')}; got ${describe(v)}` });
      }
      return;
  }
}

export function parseShape(v: unknown): { rows: number; cols: number } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(v);
  if (!m) return undefined;
  const rows = Number(m[1]);
  const cols = Number(m[2]);
  return rows >= 1 && cols >= 1 && rows <= 65536 && cols <= 65536 ? { rows, cols } : undefined;
}

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

const TOP_KEYS = ['name', 'description', 'seed', 'runner', 'networks', 'ptq', 'archs', 'axes', 'metrics', 'data', 'report'];

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
  let doc: unknown;
  const text = readFileSync(file, 'utf8');
  const yaml = !/\.json$/i.test(file);
  try {
    doc = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`not valid ${yaml ? 'YAML' : 'JSON'}: ${(e as Error).message}`, fileOrName);
  }
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
  const zoo = listModels();
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
  const ptqDoc = doc.ptq ?? ['w8a8-pt'];
  if (!Array.isArray(ptqDoc) || ptqDoc.length === 0) problems.push({ path: 'ptq', message: 'expected a non-empty list of PTQ presets or settings' });
  else
    ptqDoc.forEach((e: unknown, i: number) => {
      const entry = readPtqEntry(e, `ptq[${i}]`, problems);
      if (entry) ptq.push(entry);
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
  };
  // Every point's arch must validate too (an axis value can clash with a base spec, e.g. a glb
  // capacity on a split-buffer arch): checked here, still before any work.
  const pointProblems: Problem[] = [];
  expandInto(scenario, datasetOf, pointProblems);
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
          problems.push({ path, message: `expected {x, y, color?, column?, mark?, title?}, got ${describe(p)}` });
          return;
        }
        checkKeys(p, path, ['title', 'x', 'y', 'color', 'column', 'mark', 'xScale', 'yScale'], problems);
        const before = problems.length;
        const x = checkField(p.x, `${path}.x`, false);
        const y = checkField(p.y, `${path}.y`, true);
        const color = p.color === undefined ? null : checkField(p.color, `${path}.color`, false);
        const column = p.column === undefined ? null : checkField(p.column, `${path}.column`, false);
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

// ---------------------------------------------------------------------------------------------
// Expansion

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
}

function deletePath(obj: Record<string, unknown>, path: string): void {
  const keys = path.split('.');
  let o: unknown = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(o)) return;
    o = o[k];
  }
  if (isPlainObject(o)) delete o[keys[keys.length - 1]];
}

/** The arch input of an entry with this point's arch-axis values applied (a fresh copy). */
function applyArchAxes(entry: ArchEntry, values: readonly (readonly [string, JsonValue])[]): Record<string, unknown> {
  const input = structuredClone(entry.input) as Record<string, unknown>;
  for (const [path, v] of values) {
    const axis = ARCH_AXES[path];
    for (const r of axis.replaces) deletePath(input, r);
    if (path === 'array.shape') {
      const s = parseShape(v)!;
      setPath(input, 'array.rows', s.rows);
      setPath(input, 'array.cols', s.cols);
    } else setPath(input, path, v);
  }
  return input;
}

function cartesian(axes: readonly Axis[]): JsonValue[][] {
  let combos: JsonValue[][] = [[]];
  for (const a of axes) combos = combos.flatMap((c) => a.values.map((v) => [...c, v]));
  return combos;
}

/** sha256 of the canonical JSON of a point config and the code version. */
export function configHash(config: PointConfig): string {
  return sha256(canonicalJson({ codeVersion: CODE_VERSION, config }));
}

function expandInto(s: Scenario, datasetOf: ReadonlyMap<string, EvalDataset>, problems: Problem[]): Point[] {
  const combos = cartesian(s.axes);
  const archCache = new Map<string, ArchSpec | null>();
  const ptqChecked = new Set<string>();
  const points: Point[] = [];
  for (const network of s.networks) {
    const dataset = s.data.dataset === 'auto' ? datasetOf.get(network)! : s.data.dataset;
    for (let ai = 0; ai < s.archs.length; ai++) {
      const archEntry = s.archs[ai];
      for (const ptqEntry of s.ptq) {
        for (const combo of combos) {
          const axisValues: Record<string, JsonValue> = {};
          const archValues: [string, JsonValue][] = [];
          const ptqValues: Record<string, JsonValue> = {};
          s.axes.forEach((a, i) => {
            axisValues[a.path] = combo[i];
            if (a.path.startsWith('ptq.')) ptqValues[a.path.slice(4)] = combo[i];
            else archValues.push([a.path, combo[i]]);
          });
          const input = applyArchAxes(archEntry, archValues);
          const key = canonicalJson(input);
          let arch = archCache.get(key);
          if (arch === undefined) {
            try {
              arch = validateArchSpec(input, s.source ?? undefined);
            } catch (e) {
              if (!(e instanceof ConfigError)) throw e;
              const at = archValues.length ? ` with ${archValues.map(([p, v]) => `${p}=${JSON.stringify(v)}`).join(', ')}` : '';
              for (const p of e.problems) problems.push({ path: `archs[${ai}]${p.path ? `.${p.path}` : ''}`, message: `${p.message} (${archEntry.label}${at})` });
              arch = null;
            }
            archCache.set(key, arch);
          }
          if (arch === null) continue;
          const ptq = resolvePtq(ptqEntry, ptqValues);
          const ptqKey = canonicalJson(ptq);
          if (!ptqChecked.has(ptqKey)) {
            ptqChecked.add(ptqKey);
            const before = problems.length;
            checkPtqSettings(ptq, s.seed, `ptq[${s.ptq.indexOf(ptqEntry)}]`, problems);
            const at = Object.keys(ptqValues).length ? ` with ${Object.entries(ptqValues).map(([p, v]) => `ptq.${p}=${JSON.stringify(v)}`).join(', ')}` : '';
            for (let i = before; i < problems.length; i++) problems[i] = { ...problems[i], message: `${problems[i].message} (${ptqEntry.label}${at})` };
          }
          const config: PointConfig = {
            scenario: s.name,
            runner: s.runner,
            seed: s.seed,
            network,
            dataset,
            samples: s.data.samplesByNetwork[network] ?? s.data.samples,
            archLabel: archEntry.label,
            arch,
            ptqLabel: ptqEntry.label,
            ptq,
            axes: axisValues,
            metrics: s.metrics,
          };
          const frozen = deepFreeze(config);
          points.push(Object.freeze({ index: points.length, configHash: configHash(frozen), config: frozen }));
        }
      }
    }
  }
  return points;
}

/** The sweep points of a validated scenario: networks × archs × ptq × axes (last fastest). */
export function expandPoints(s: Scenario): Point[] {
  const datasetOf = new Map(listModels().map((m) => [m.name, m.dataset] as const));
  const problems: Problem[] = [];
  const points = expandInto(s, datasetOf, problems);
  if (problems.length > 0) throw new ConfigError(problems, s.source ?? undefined);
  return points;
}
