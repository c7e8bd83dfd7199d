/**
 * `qloom exec`: runs a quantized ONNX model bit-exactly on inputs stored as ONNX TensorProto files
 * and writes each output as `<dir>/<output name>.pb` (all or none), with overflow counts per layer.
 */
import { UsageError } from '../errors/index.js';
import { ACC_POLICIES, execQuantized, openQuantizedOnnx, REQUANT_MODES } from '../scenarios/exec.js';
import { EXEC_USAGE } from './commands.js';
import type { Flags } from './flags.js';
import { table } from './table.js';

function usage(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${EXEC_USAGE}`);
}

export function run(pos: string[], values: Record<string, unknown>, flags: Flags): void {
  flags.positionalCount(1, 'one model file');
  const inputs = new Map<string, string>();
  for (const spec of (values.input as string[] | undefined) ?? []) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq);
    if (eq <= 0 || eq === spec.length - 1) flags.problem(`--input must be <name>=<file.pb>, got '${spec}'`);
    else if (inputs.has(name)) flags.problem(`--input '${name}' is given twice`);
    else inputs.set(name, spec.slice(eq + 1));
  }
  const outDir = flags.string('out-dir', '<dir>');
  if (outDir === '') flags.problem('--out-dir must name a directory, got an empty string');
  const mode = flags.oneOf('requant', REQUANT_MODES) ?? 'float';
  const bits = flags.int('acc-bits', { min: 8, max: 64, def: 32 })!;
  const policy = flags.oneOf('acc-policy', ACC_POLICIES) ?? 'wrap';
  flags.check(EXEC_USAGE);

  const model = openQuantizedOnnx(pos[0], inputs);
  if (model.missingInputs.length) {
    throw usage(`missing --input for ${model.missingInputs.map((m) => `'${m}'`).join(', ')} (model inputs: ${model.net.inputs.map((i) => i.name).join(', ')})`);
  }
  const r = execQuantized(model, { outDir: outDir!, requant: mode, accBits: bits, accPolicy: policy });
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
