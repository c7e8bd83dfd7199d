/**
 * The commands: name → summary, usage and parseArgs options, and a loader of the module that runs
 * it. Light on purpose — `qloom --help` and `qloom <command> --help` read only this file, and a run
 * imports the one command module it needs (the library behind it: tfjs, onnx, vega, mathjs, …).
 */
import type { ParseArgsConfig } from 'node:util';
import type { Flags } from './flags.js';
import { PRESET_NAMES, PTQ_OPTIONS, PTQ_USAGE } from './ptq-flags.js';

/**
 * A command's work: check its arguments — adding to `flags`' problems (those parsing found) and
 * calling `flags.check(usage)` before it reads any file named on the command line — then make the
 * library call and print. `positionals` and `values` are `flags`' own.
 */
export type CommandRun = (positionals: string[], values: Record<string, unknown>, flags: Flags) => Promise<void> | void;

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  load(): Promise<CommandRun>;
}

export const INSPECT_USAGE = 'qloom inspect <model|file.onnx|tfjs-dir> [--width W (ppocr-rec)] [--json]';
export const EVAL_USAGE = `qloom eval <model|file> [--data mnist|fmnist|photos|orientation|textlines] [--samples N] [--seed S] [--json [--timing]]  |  qloom eval --all  |  qloom eval <model> --quant <preset> ${PTQ_USAGE} --data <dataset> [--json [--timing]]`;
export const QUANTIZE_USAGE = `qloom quantize <model> --preset <${PRESET_NAMES.join('|')}> ${PTQ_USAGE} --calib mnist|fmnist|photos|orientation|textlines --out <file.onnx> [--format qop|qdq] [--checkpoint <dir>] [--json [--timing]]`;
export const QAT_USAGE =
  'qloom qat <model> --preset <w8a8-qat|w4a8-qat|w4a4-qat|w3a3-qat|w2a4-qat|w4a4-ada-qat|w3a3-ada-qat|any PTQ preset> [--data fmnist|mnist] [--epochs N] [--lr LR] [--scale-lr LR] [--forward float|integer] [--seed S] [--train-samples N] [--samples N] [--checkpoint <dir>] --out <file.onnx> [--format qop|qdq] [--json]';
export const DEBUG_USAGE = `qloom debug <model> --preset <${PRESET_NAMES.join('|')}> ${PTQ_USAGE} --data mnist|fmnist|photos|orientation [--samples N] [--json]`;
export const EXEC_USAGE =
  'qloom exec <model.onnx> --input <name>=<file.pb> [--input …] --out-dir <dir> [--requant float|fixed] [--acc-bits P] [--acc-policy wrap|saturate|ideal] [--json]';
export const SCENARIO_USAGE = 'qloom scenario <name|file> [--out <dir>] [--workers N | --shard i/N | --queue redis://host:port[/db]] [--table] [--json]';
export const WORKER_USAGE = 'qloom worker --queue redis[s]://[user:password@]host:port[/db] [--concurrency N] [--stall-timeout S]   (password also from QLOOM_REDIS_PASSWORD)';
export const MERGE_USAGE = 'qloom merge <dir>… --out <dir> [--table]';
export const REPORT_USAGE = 'qloom report <results.json> [--out <dir>]';
export const RUN_TOPOLOGY_USAGE =
  'qloom run --arch <preset|file.json|file.yaml|file.cfg> --topology <file.csv> [--gemm] [--memory native|scalesim] [--scalesim-trace <dir>] [--json] [--out <result.json>]\n' +
  '             --scalesim-config <file.cfg>: the same as --arch <file.cfg>\n' +
  '             --scalesim-trace <dir>: SCALE-Sim access traces, <dir>/layer<i>/{IFMAP,FILTER,OFMAP}_{SRAM,DRAM}_TRACE.csv\n' +
  '               (scalesim memory model only: a .cfg, or --memory scalesim; DRAM traces in USER bandwidth mode only, empty in CALC)';
export const RUN_MODEL_USAGE =
  'qloom run --arch <preset|file> --model <name|file.onnx> [--preset <ptq preset> | a quantized .onnx] --data <mnist|fmnist|photos|orientation|textlines> [--samples N] [--batch B] [--trace <file.json>] [--requant fixed|float] [--zeros] [--on-chip none|greedy|optimal|greedy+bands|optimal+bands] [--json] [--out <result.json>]';
export const ENERGY_USAGE = 'qloom energy <result.json> --table <name|file.json|file.yaml> [--json]';
export const MODELS_USAGE = 'qloom models [--json]';
export const MIXED_USAGE =
  'qloom mixed <model> --arch <preset|file> --data <mnist|fmnist|orientation|photos> [--choices w8a8,w4a8,w8a4] [--preset <integer ptq preset>] [--objective energy|cycles] [--budget energy=<E>[pJ|nJ|uJ|mJ|%] | cycles=<N>[%]] [--points N] [--sens-samples N] [--samples N] [--out <dir>] [--json]';
export const AREA_USAGE = 'qloom area <preset|file.json|file.yaml|file.cfg> [--json]';
export const MAP_USAGE =
  'qloom map --model <name|file.onnx> --arch <unified-buffer preset|file> [--preset <ptq preset>] --data <mnist|fmnist|photos> [--images N] [--layer NAME[,NAME…]] [--mapping <map.yaml>] [--search [--budget N] [--seed S] [--objective energy|cycles|edp]] [--psum-bits N] [--acc-bits N] [--overflow saturate|wrap] [--json]';
export const TIMELOOP_USAGE =
  'qloom timeloop <run-folder|parsed-processed-input.yaml> [--search [--objective energy|cycles|edp] [--budget N] [--seed S]] [--arith [--psum-bits N] [--acc-bits N] [--overflow saturate|wrap] [--data-seed S]] [--json [--timing]]';

export const DIFFUSION_USAGE =
  'qloom diffusion [--model mnist-ddpm] [--steps N] [--eta E] [--samples N] [--seed S] [--grid <file.png>] [--reference] [--preset <integer ptq preset> [--calib single[:STEP]|last|uniform] [--calib-samples N] [--split-concat] [--arch <preset|file>]] [--json]';

const json = { type: 'boolean' } as const;
/** --json: add the wall-clock times (left out by default, so two identical runs print the same bytes) */
const timing = { type: 'boolean' } as const;

export const COMMANDS: Readonly<Record<string, Command>> = {
  inspect: {
    summary: 'layers of a model with op, shapes, parameters and MACs',
    usage: INSPECT_USAGE,
    options: { json, width: { type: 'string' } },
    load: async () => (await import('./inspect.js')).run,
  },
  eval: {
    summary: 'FP32 top-1 of a model on a dataset (photos: top-1 class per image)',
    usage: EVAL_USAGE,
    options: { ...PTQ_OPTIONS, quant: { type: 'string' }, data: { type: 'string' }, samples: { type: 'string' }, seed: { type: 'string' }, json, timing, all: { type: 'boolean' } },
    load: async () => (await import('./eval.js')).run,
  },
  quantize: {
    summary: 'post-training quantization (standard PTQ pipeline) → quantized ONNX',
    usage: QUANTIZE_USAGE,
    options: { ...PTQ_OPTIONS, preset: { type: 'string' }, calib: { type: 'string' }, out: { type: 'string' }, format: { type: 'string' }, checkpoint: { type: 'string' }, json, timing },
    load: async () => (await import('./quantize.js')).run,
  },
  qat: {
    summary: 'quantization-aware training (STE + LSQ from the PTQ starting point) → quantized ONNX',
    usage: QAT_USAGE,
    options: {
      preset: { type: 'string' },
      data: { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      'scale-lr': { type: 'string' },
      forward: { type: 'string' },
      seed: { type: 'string' },
      'train-samples': { type: 'string' },
      samples: { type: 'string' },
      checkpoint: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      json,
    },
    load: async () => (await import('./qat.js')).run,
  },
  debug: {
    summary: 'PTQ debugging workflow: FP32 sanity, weights vs activations, per-quantizer sensitivity',
    usage: DEBUG_USAGE,
    options: { ...PTQ_OPTIONS, preset: { type: 'string' }, data: { type: 'string' }, samples: { type: 'string' }, json },
    load: async () => (await import('./debug.js')).run,
  },
  exec: {
    summary: 'run a quantized ONNX model bit-exactly on .pb inputs, write .pb outputs and overflow counts',
    usage: EXEC_USAGE,
    options: {
      input: { type: 'string', multiple: true },
      'out-dir': { type: 'string' },
      requant: { type: 'string' },
      'acc-bits': { type: 'string' },
      'acc-policy': { type: 'string' },
      json,
    },
    load: async () => (await import('./exec.js')).run,
  },
  scenario: {
    summary: 'run a scenario sweep (built-in name or YAML/JSON file) and write its report',
    usage: SCENARIO_USAGE,
    options: { out: { type: 'string' }, workers: { type: 'string' }, shard: { type: 'string' }, queue: { type: 'string' }, table: { type: 'boolean' }, json },
    load: async () => (await import('./scenario.js')).run,
  },
  worker: {
    summary: 'take scenario points from a Redis queue (qloom scenario --queue) and run them, until stopped',
    usage: WORKER_USAGE,
    options: { queue: { type: 'string' }, concurrency: { type: 'string' }, 'stall-timeout': { type: 'string' } },
    load: async () => (await import('./worker.js')).run,
  },
  merge: {
    summary: 'assemble results.json and the report of a scenario from shard outputs (qloom scenario --shard i/N)',
    usage: MERGE_USAGE,
    options: { out: { type: 'string' }, table: { type: 'boolean' } },
    load: async () => (await import('./merge.js')).run,
  },
  report: {
    summary: 're-render a scenario report (CSVs, SVG plots, report.html) from its results.json',
    usage: REPORT_USAGE,
    options: { out: { type: 'string' } },
    load: async () => (await import('./report.js')).run,
  },
  run: {
    summary: 'simulate on an accelerator: timing only (SCALE-Sim topology) or a quantized model on real data (functional + timing)',
    usage: `${RUN_TOPOLOGY_USAGE}\n             ${RUN_MODEL_USAGE}`,
    options: {
      arch: { type: 'string' },
      topology: { type: 'string' },
      'scalesim-config': { type: 'string' },
      gemm: { type: 'boolean' },
      memory: { type: 'string' },
      'scalesim-trace': { type: 'string' },
      json,
      out: { type: 'string' },
      // --model
      model: { type: 'string' },
      preset: { type: 'string' },
      data: { type: 'string' },
      samples: { type: 'string' },
      batch: { type: 'string' },
      trace: { type: 'string' },
      requant: { type: 'string' },
      zeros: { type: 'boolean' },
      'on-chip': { type: 'string' },
    },
    load: async () => (await import('./run.js')).run,
  },
  energy: {
    summary: 'recompute the energy of a saved run result with another energy table',
    usage: ENERGY_USAGE,
    options: { table: { type: 'string' }, json },
    load: async () => (await import('./energy.js')).run,
  },
  area: {
    summary: 'silicon area of an arch at 45 nm: PE array, buffers, requant unit, special-function unit',
    usage: AREA_USAGE,
    options: { json },
    load: async () => (await import('./area.js')).run,
  },
  map: {
    summary: 'a network\'s conv / dense layers on the arch as a memory hierarchy: today\'s fixed schedule, the mapper\'s best mapping or a given one — energy, cycles, and the layer\'s real integer arithmetic in each mapping\'s order (outputs the registers change, overflows)',
    usage: MAP_USAGE,
    options: { json, model: { type: 'string' }, arch: { type: 'string' }, preset: { type: 'string' }, data: { type: 'string' }, images: { type: 'string' }, layer: { type: 'string' }, mapping: { type: 'string' }, search: { type: 'boolean' }, budget: { type: 'string' }, seed: { type: 'string' }, objective: { type: 'string' }, 'psum-bits': { type: 'string' }, 'acc-bits': { type: 'string' }, overflow: { type: 'string' } },
    load: async () => (await import('./map.js')).run,
  },
  diffusion: {
    summary: 'sample the zoo diffusion model with DDIM (FP32, or quantized with a calibration strategy over the denoising trajectory and optional split skip quantization, on the integer executor or an arch): FID on a bundled classifier\'s features, its confidence and class histogram, overflows per timestep band, cost per generated image',
    usage: DIFFUSION_USAGE,
    options: { json, model: { type: 'string' }, steps: { type: 'string' }, eta: { type: 'string' }, samples: { type: 'string' }, seed: { type: 'string' }, grid: { type: 'string' }, reference: { type: 'boolean' }, preset: { type: 'string' }, calib: { type: 'string' }, 'calib-samples': { type: 'string' }, 'split-concat': { type: 'boolean' }, arch: { type: 'string' } },
    load: async () => (await import('./diffusion.js')).run,
  },
  timeloop: {
    summary: 'evaluate a Timeloop run (its expanded input, ERT and mapping) with qloom\'s own nest analysis: accesses per level, energy, cycles; --search: map it under its constraints',
    usage: TIMELOOP_USAGE,
    options: { json, timing, search: { type: 'boolean' }, objective: { type: 'string' }, budget: { type: 'string' }, seed: { type: 'string' }, arith: { type: 'boolean' }, 'psum-bits': { type: 'string' }, 'acc-bits': { type: 'string' }, overflow: { type: 'string' }, 'data-seed': { type: 'string' } },
    load: async () => (await import('./timeloop.js')).run,
  },
  mixed: {
    summary: 'mixed-precision search: per-layer bits chosen by an exact integer program (HiGHS) against simulated energy or cycles; the front measured for real',
    usage: MIXED_USAGE,
    options: {
      arch: { type: 'string' },
      data: { type: 'string' },
      choices: { type: 'string' },
      preset: { type: 'string' },
      objective: { type: 'string' },
      budget: { type: 'string' },
      points: { type: 'string' },
      'sens-samples': { type: 'string' },
      samples: { type: 'string' },
      out: { type: 'string' },
      json,
    },
    load: async () => (await import('./mixed.js')).run,
  },
  models: {
    summary: 'list the model zoo',
    usage: MODELS_USAGE,
    options: { json },
    load: async () => (await import('./models.js')).run,
  },
};
