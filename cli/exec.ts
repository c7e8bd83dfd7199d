/**
 * `qloom exec`: runs a quantized ONNX model bit-exactly on inputs stored as ONNX TensorProto
 * files (the conformance-suite `.pb` format) and writes each output as `<dir>/<output name>.pb`.
 *
 * Every --input is available to the model: where the model needs a constant there (weights,
 * scales, zero points — conformance models feed those as graph inputs) it is bound as one,
 * elsewhere it is fed at run time. Outputs are written only after the whole run succeeded, each to
 * a temporary name first and renamed into place, so a failed run leaves nothing half-written.
 */
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../nets/graph.js';
import { encodeTensorPb, readTensorPb } from '../nets/onnx/tensor.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import type { AccPolicy } from '../sim/kernels/accumulator.js';
import { runQuantized } from '../sim/qexec.js';
import type { RequantMode } from '../qnet/requant.js';
import type { Command } from './main.js';
import { UsageError } from './main.js';
import { table } from './table.js';

const USAGE =
  'qloom exec <model.onnx> --input <name>=<file.pb> [--input …] --out-dir <dir> [--requant float|fixed] [--acc-bits P] [--acc-policy wrap|saturate|ideal] [--json]';

const POLICIES: readonly AccPolicy[] = ['wrap', 'saturate', 'ideal'];
const MODES: readonly RequantMode[] = ['float', 'fixed'];

/** Output names become file names: anything but [A-Za-z0-9._-] turns into '_'. */
export function outputFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe === '' || safe === '.' || safe === '..' ? `_${safe}` : safe}.pb`;
}

function usage(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${USAGE}`);
}

interface ExecArgs {
  model: string;
  inputs: Map<string, string>;
  outDir: string;
  mode: RequantMode;
  bits: number;
  policy: AccPolicy;
  json: boolean;
}

function parse(pos: string[], values: Record<string, unknown>): ExecArgs {
  if (pos.length !== 1) throw usage('exec takes exactly one model file');
  const inputs = new Map<string, string>();
  for (const spec of (values.input as string[] | undefined) ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw usage(`--input must be <name>=<file.pb>, got '${spec}'`);
    const name = spec.slice(0, eq);
    if (inputs.has(name)) throw usage(`--input '${name}' is given twice`);
    inputs.set(name, spec.slice(eq + 1));
  }
  const outDir = values['out-dir'];
  if (typeof outDir !== 'string' || outDir === '') throw usage('--out-dir is required');
  const mode = (values.requant ?? 'float') as RequantMode;
  if (!MODES.includes(mode)) throw usage(`--requant must be one of ${MODES.join(', ')}, got '${String(values.requant)}'`);
  const bits = values['acc-bits'] === undefined ? 32 : Number(values['acc-bits']);
  if (!Number.isInteger(bits) || bits < 8 || bits > 64) throw usage(`--acc-bits must be an integer 8…64, got '${String(values['acc-bits'])}'`);
  const policy = (values['acc-policy'] ?? 'wrap') as AccPolicy;
  if (!POLICIES.includes(policy)) throw usage(`--acc-policy must be one of ${POLICIES.join(', ')}, got '${String(values['acc-policy'])}'`);
  return { model: pos[0], inputs, outDir, mode, bits, policy, json: values.json === true };
}

/** Writes all files or none: temp names first, then renames; temps are removed on failure. */
function writeAll(files: { path: string; bytes: Uint8Array }[]): void {
  const tmps: string[] = [];
  try {
    for (const f of files) {
      const tmp = `${f.path}.${process.pid}.tmp`;
      tmps.push(tmp);
      writeFileSync(tmp, f.bytes);
    }
    files.forEach((f, i) => renameSync(tmps[i], f.path));
  } catch (e) {
    for (const t of tmps) {
      try {
        unlinkSync(t);
      } catch {
        // never created, or already renamed
      }
    }
    throw e;
  }
}

export const execCommand: Command = {
  summary: 'run a quantized ONNX model bit-exactly on .pb inputs, write .pb outputs and overflow counts',
  usage: USAGE,
  options: {
    input: { type: 'string', multiple: true },
    'out-dir': { type: 'string' },
    requant: { type: 'string' },
    'acc-bits': { type: 'string' },
    'acc-policy': { type: 'string' },
    json: { type: 'boolean' },
  },
  run(pos, values) {
    const a = parse(pos, values);
    const given = new Map<string, Tensor>();
    for (const [name, file] of a.inputs) given.set(name, readTensorPb(file).tensor);
    const net = loadQuantizedOnnx(a.model, { inputValues: given });
    const known = new Set(net.inputs.map((i) => i.name));
    const missing = net.inputs.filter((i) => !given.has(i.name)).map((i) => i.name);
    if (missing.length) throw usage(`missing --input for ${missing.map((m) => `'${m}'`).join(', ')} (model inputs: ${net.inputs.map((i) => i.name).join(', ')})`);
    const feeds: Record<string, Tensor> = {};
    for (const [name, t] of given) if (known.has(name)) feeds[name] = t;
    const res = runQuantized(net, feeds, { requant: { mode: a.mode }, acc: { bits: a.bits, policy: a.policy } });

    const files = net.outputs.map((o) => ({ name: o.name, path: join(a.outDir, outputFileName(o.name)), tensor: res.outputs[o.name] }));
    mkdirSync(a.outDir, { recursive: true });
    writeAll(files.map((f) => ({ path: f.path, bytes: encodeTensorPb(f.name, f.tensor) })));

    const layers = Object.entries(res.overflow).map(([name, r]) => ({
      name,
      events: r.events,
      proved: r.proved,
      maxAbs: r.maxAbs,
      minSafeBits: res.accumulators[name].minSafeBits,
      accBits: res.accumulators[name].bits,
      policy: res.accumulators[name].policy,
      first: r.first,
    }));
    const outputs = files.map((f) => ({ name: f.name, file: f.path, dtype: f.tensor.dtype, shape: [...f.tensor.shape] }));
    if (a.json) {
      process.stdout.write(JSON.stringify({ model: a.model, requant: a.mode, accumulator: { bits: a.bits, policy: a.policy }, layers, outputs }, null, 2) + '\n');
      return;
    }
    for (const o of outputs) process.stdout.write(`${o.name}: ${o.dtype}[${o.shape.join(',')}] → ${o.file}\n`);
    if (layers.length) {
      process.stdout.write('\n' + table(['layer', 'overflows', 'proved safe', 'max |acc|', 'min safe bits'], layers.map((l) => [l.name, l.events, l.proved ? 'yes' : 'no', l.maxAbs, l.minSafeBits])) + '\n');
      const total = layers.reduce((s, l) => s + l.events, 0);
      process.stdout.write(`\n${a.bits}-bit ${a.policy} accumulator, ${a.mode} requant: ${total} overflow event(s)\n`);
    }
  },
};
