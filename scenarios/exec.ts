/**
 * Running a quantized ONNX model bit-exactly on integers: the library calls behind `qloom exec`.
 *
 * Inputs are ONNX TensorProto files (the conformance-suite `.pb` format) or tensors. Every input is
 * available to the model: where the model needs a constant there (weights, scales, zero points —
 * conformance models feed those as graph inputs) it is bound as one, elsewhere it is fed at run
 * time. Outputs are written as `<dir>/<output name>.pb` only after the whole run succeeded, all or
 * none (temp names, then renames), so a failed run leaves nothing half-written.
 */
import { join } from 'node:path';
import { UsageError } from '../errors/index.js';
import type { Tensor } from '../nets/graph.js';
import { encodeTensorPb, readTensorPb } from '../nets/onnx/tensor.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import type { RequantMode } from '../qnet/requant.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import type { AccPolicy, OverflowReport } from '../sim/kernels/accumulator.js';
import { runQuantized } from '../sim/qexec.js';
import { checkOutputDir, writeFilesAtomic } from './files.js';

export const ACC_POLICIES: readonly AccPolicy[] = Object.freeze(['wrap', 'saturate', 'ideal']);
export const REQUANT_MODES: readonly RequantMode[] = Object.freeze(['float', 'fixed']);

/** Output names become file names: anything but [A-Za-z0-9._-] turns into '_'. */
export function outputFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe === '' || safe === '.' || safe === '..' ? `_${safe}` : safe}.pb`;
}

export interface OpenedModel {
  readonly file: string;
  readonly net: QuantizedNetwork;
  /** the given inputs the model reads at run time */
  readonly feeds: Readonly<Record<string, Tensor>>;
  /** run-time inputs of the model that were not given */
  readonly missingInputs: readonly string[];
}

/** A quantized ONNX model (QOperator or QDQ) with its inputs (name → .pb file or tensor) bound. */
export function openQuantizedOnnx(file: string, inputs: ReadonlyMap<string, string | Tensor>): OpenedModel {
  const given = new Map<string, Tensor>();
  for (const [name, v] of inputs) given.set(name, typeof v === 'string' ? readTensorPb(v).tensor : v);
  const net = loadQuantizedOnnx(file, { inputValues: given });
  const feeds: Record<string, Tensor> = {};
  for (const i of net.inputs) if (given.has(i.name)) feeds[i.name] = given.get(i.name)!;
  return { file, net, feeds, missingInputs: net.inputs.filter((i) => !given.has(i.name)).map((i) => i.name) };
}

export interface ExecOptions {
  /** write each output as `<outDir>/<output name>.pb` */
  readonly outDir: string;
  /** default 'float' (ONNX Runtime's requantization) */
  readonly requant?: RequantMode;
  /** accumulator width, 8…64 (default 32) */
  readonly accBits?: number;
  /** default 'wrap' */
  readonly accPolicy?: AccPolicy;
}

export interface ExecLayer {
  readonly name: string;
  readonly events: number;
  readonly proved: boolean;
  readonly maxAbs: number;
  readonly minSafeBits: number;
  readonly accBits: number;
  readonly policy: AccPolicy;
  /** the first overflow (position, step), or null */
  readonly first: OverflowReport['first'];
}

export interface ExecSummary {
  readonly model: string;
  readonly requant: RequantMode;
  readonly accumulator: { readonly bits: number; readonly policy: AccPolicy };
  /** linear layers: overflow events, whether a bound proved them safe, max |acc|, minimum safe width */
  readonly layers: readonly ExecLayer[];
  readonly outputs: readonly { readonly name: string; readonly file: string; readonly dtype: string; readonly shape: readonly number[] }[];
}

/** Runs an opened model on integers and writes its outputs (all or none); overflow counts per layer. */
export function execQuantized(m: OpenedModel, opts: ExecOptions): ExecSummary {
  const mode = opts.requant ?? 'float';
  const bits = opts.accBits ?? 32;
  const policy = opts.accPolicy ?? 'wrap';
  if (!REQUANT_MODES.includes(mode)) throw new UsageError(`requant must be one of ${REQUANT_MODES.join(', ')}, got '${String(mode)}'`);
  if (!Number.isInteger(bits) || bits < 8 || bits > 64) throw new UsageError(`the accumulator width must be an integer 8…64, got ${String(bits)}`);
  if (!ACC_POLICIES.includes(policy)) throw new UsageError(`the accumulator policy must be one of ${ACC_POLICIES.join(', ')}, got '${String(policy)}'`);
  if (m.missingInputs.length) throw new UsageError(`missing input ${m.missingInputs.map((n) => `'${n}'`).join(', ')} (model inputs: ${m.net.inputs.map((i) => i.name).join(', ')})`);
  // a folder that cannot take the outputs is refused before the run
  checkOutputDir(opts.outDir);
  const res = runQuantized(m.net, { ...m.feeds }, { requant: { mode }, acc: { bits, policy } });
  const files = m.net.outputs.map((o) => ({ name: o.name, path: join(opts.outDir, outputFileName(o.name)), tensor: res.outputs[o.name] }));
  writeFilesAtomic(files.map((f) => ({ path: f.path, data: encodeTensorPb(f.name, f.tensor) })));
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
  return { model: m.file, requant: mode, accumulator: { bits, policy }, layers, outputs };
}
