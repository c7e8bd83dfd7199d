/**
 * `qloom exec`: runs a quantized ONNX model bit-exactly on inputs stored as ONNX TensorProto files
 * and writes each output as `<dir>/<output name>.pb` (all or none), with overflow counts per layer.
 */
import { UsageError } from '../errors/index.js';
import type { RequantMode } from '../qnet/requant.js';
import { ACC_POLICIES, execQuantized, openQuantizedOnnx, REQUANT_MODES } from '../scenarios/exec.js';
import type { AccPolicy } from '../sim/kernels/accumulator.js';
import { EXEC_USAGE } from './commands.js';
import { table } from './table.js';

function usage(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${EXEC_USAGE}`);
}

export function run(pos: string[], values: Record<string, unknown>): void {
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
  if (!REQUANT_MODES.includes(mode)) throw usage(`--requant must be one of ${REQUANT_MODES.join(', ')}, got '${String(values.requant)}'`);
  const bits = values['acc-bits'] === undefined ? 32 : Number(values['acc-bits']);
  if (!Number.isInteger(bits) || bits < 8 || bits > 64) throw usage(`--acc-bits must be an integer 8…64, got '${String(values['acc-bits'])}'`);
  const policy = (values['acc-policy'] ?? 'wrap') as AccPolicy;
  if (!ACC_POLICIES.includes(policy)) throw usage(`--acc-policy must be one of ${ACC_POLICIES.join(', ')}, got '${String(values['acc-policy'])}'`);

  const model = openQuantizedOnnx(pos[0], inputs);
  if (model.missingInputs.length) {
    throw usage(`missing --input for ${model.missingInputs.map((m) => `'${m}'`).join(', ')} (model inputs: ${model.net.inputs.map((i) => i.name).join(', ')})`);
  }
  const r = execQuantized(model, { outDir, requant: mode, accBits: bits, accPolicy: policy });
  if (values.json === true) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  for (const o of r.outputs) process.stdout.write(`${o.name}: ${o.dtype}[${o.shape.join(',')}] → ${o.file}\n`);
  if (r.layers.length) {
    process.stdout.write('\n' + table(['layer', 'overflows', 'proved safe', 'max |acc|', 'min safe bits'], r.layers.map((l) => [l.name, l.events, l.proved ? 'yes' : 'no', l.maxAbs, l.minSafeBits])) + '\n');
    const total = r.layers.reduce((s, l) => s + l.events, 0);
    process.stdout.write(`\n${bits}-bit ${policy} accumulator, ${mode} requant: ${total} overflow event(s)\n`);
  }
}
