/**
 * `qloom exec` as a user runs it (`node cli/qloom.js exec …`): conformance models and their
 * input .pb files in, .pb files out, compared with the suite's expected outputs bit for bit.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom, qloomWithin } from '../helpers/cli.js';
import { ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { decodeTensorPb } from '../../nets/onnx/tensor.js';
import { TESTDATA } from '../helpers/conformance.js';
import { buildModel } from '../helpers/onnx-build.js';
import { runOrt } from '../helpers/ort.js';
import { encodeTensorPb } from '../../nets/onnx/tensor.js';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';

const NODE = join(TESTDATA, 'node');

/** `--input name=file` for every graph input of a suite test, from data set 0. */
function inputArgs(test: string): string[] {
  const dir = join(NODE, test);
  const model = ModelProto.decode(readFileSync(join(dir, 'model.onnx'))) as unknown as PModel;
  return (model.graph?.input ?? []).flatMap((v, i) => ['--input', `${v.name}=${join(dir, 'test_data_set_0', `input_${i}.pb`)}`]);
}

function plain(bytes: Uint8Array) {
  const { tensor } = decodeTensorPb(bytes);
  return { dtype: tensor.dtype, shape: [...tensor.shape], data: Array.from(tensor.data as ArrayLike<number>, Number) };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'qloom-exec-'));

describe.skipIf(!existsSync(NODE))('qloom exec', () => {
  it.each([
    ['test_qlinearconv', 'y'],
    ['test_matmulinteger', 'Y'],
    ['test_dequantizelinear_axis', 'y'],
  ])('%s: the written .pb equals the expected output bit for bit', async (test, out) => {
    const dir = tmp();
    const r = await qloom('exec', join(NODE, test, 'model.onnx'), ...inputArgs(test), '--out-dir', dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(dir)).toEqual([`${out}.pb`]);
    const got = plain(readFileSync(join(dir, `${out}.pb`)));
    const want = plain(readFileSync(join(NODE, test, 'test_data_set_0', 'output_0.pb')));
    expect(got).toEqual(want);
    expect(decodeTensorPb(readFileSync(join(dir, `${out}.pb`))).name).toBe(out);
  });

  it('--json reports overflow counts per layer and the outputs written', async () => {
    const dir = tmp();
    const r = await qloom('exec', join(NODE, 'test_qlinearconv', 'model.onnx'), ...inputArgs('test_qlinearconv'), '--out-dir', dir, '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      layers: { name: string; events: number; proved: boolean; maxAbs: number; minSafeBits: number }[];
      outputs: { name: string; file: string; dtype: string; shape: number[] }[];
    };
    expect(doc.layers).toHaveLength(1);
    expect(doc.layers[0]).toMatchObject({ events: 0, proved: true });
    expect(doc.layers[0].minSafeBits).toBeGreaterThan(8);
    expect(doc.layers[0].minSafeBits).toBeLessThanOrEqual(32);
    expect(doc.outputs).toEqual([{ name: 'y', file: join(dir, 'y.pb'), dtype: 'uint8', shape: [1, 1, 7, 7] }]);
  });

  it('a narrow saturating accumulator overflows: the flags reach the kernels', async () => {
    const dir = tmp();
    const wide = JSON.parse((await qloom('exec', join(NODE, 'test_qlinearconv', 'model.onnx'), ...inputArgs('test_qlinearconv'), '--out-dir', dir, '--json')).stdout);
    const maxAbs = wide.layers[0].maxAbs as number;
    expect(maxAbs).toBeGreaterThan(2 ** 15);
    const r = await qloom('exec', join(NODE, 'test_qlinearconv', 'model.onnx'), ...inputArgs('test_qlinearconv'), '--out-dir', dir, '--json', '--acc-bits', '16', '--acc-policy', 'saturate');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.accumulator).toEqual({ bits: 16, policy: 'saturate' });
    expect(doc.layers[0].proved).toBe(false);
    expect(doc.layers[0].events).toBeGreaterThan(0);
  });

  it.each([
    [['--out-dir'], '--out-dir needs a value'],
    [[], '--out-dir <dir> is required'],
    [['--out-dir', '/tmp/x', '--acc-bits', '7'], '--acc-bits must be an integer 8…64'],
    [['--out-dir', '/tmp/x', '--acc-policy', 'clip'], '--acc-policy must be one of'],
    [['--out-dir', '/tmp/x', '--requant', 'double'], '--requant must be one of'],
    [['--out-dir', '/tmp/x', '--input', 'x'], '--input must be <name>=<file.pb>'],
  ])('bad arguments %j exit 2 and say what is wrong', async (args, msg) => {
    const r = await qloom('exec', join(NODE, 'test_qlinearconv', 'model.onnx'), ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(msg);
    expect(r.stderr).toContain('usage: qloom exec');
  });

  it('a missing input exits 2 and names it', async () => {
    const test = 'test_dequantizelinear';
    const args = inputArgs(test).slice(2); // drop x
    const r = await qloom('exec', join(NODE, test, 'model.onnx'), ...args, '--out-dir', tmp());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing --input for 'x'");
  });

  it('a damaged model exits 1 naming the file, without a stack trace', async () => {
    const dir = tmp();
    const bad = join(dir, 'truncated.onnx');
    const bytes = readFileSync(join(NODE, 'test_qlinearconv', 'model.onnx'));
    writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await qloom('exec', bad, '--out-dir', join(dir, 'out'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('truncated.onnx');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a run that fails leaves the output directory without any file', async () => {
    const dir = tmp();
    // x from another test: the wrong shape, found only when the model runs
    const args = inputArgs('test_qlinearconv');
    args[1] = `x=${join(NODE, 'test_qlinearmatmul_2D', 'test_data_set_0', 'input_0.pb')}`;
    const r = await qloom('exec', join(NODE, 'test_qlinearconv', 'model.onnx'), ...args, '--out-dir', dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("input 'x' has shape [2,4]");
    expect(readdirSync(dir)).toEqual([]);
  });

  it('--out-dir naming a file, or a folder under /proc: exit 1, one line naming it, no hang; a missing folder is created', async () => {
    const dir = tmp();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const args = [join(NODE, 'test_qlinearconv', 'model.onnx'), ...inputArgs('test_qlinearconv')];
    const onFile = await qloomWithin(30_000, 'exec', ...args, '--out-dir', file);
    expect(onFile.code).toBe(1);
    expect(onFile.stderr).toBe(`qloom exec: cannot write into ${file}: it is a file, not a folder\n`);
    if (existsSync('/proc/self')) {
      // Node 20's recursive mkdir looped forever here
      const proc = await qloomWithin(30_000, 'exec', ...args, '--out-dir', '/proc/x');
      expect(proc.code).toBe(1);
      expect(proc.stderr).toBe('qloom exec: cannot write into /proc/x: cannot create files in /proc: no such file or folder (ENOENT)\n');
    }
    const nested = join(dir, 'p', 'q');
    expect((await qloomWithin(30_000, 'exec', ...args, '--out-dir', nested)).code).toBe(0);
    expect(readdirSync(nested)).toEqual(['y.pb']);
    expect(readdirSync(dir).sort()).toEqual(['a-file', 'p']);
  }, 100_000);
});

/**
 * An attention core written as an ONNX test-data folder (model.onnx, test_data_set_0/input_*.pb,
 * output_0.pb from onnxruntime-node): Q·Kᵀ (QLinearMatMul, B fed at run time) → QLinearSoftmax →
 * P·V, three uint8 graph inputs.
 */
async function attentionFolder(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-attention-'));
  const rng = new Prng(17);
  const [H, M, D, N, Dv] = [2, 5, 8, 6, 4];
  const u8 = (shape: number[]): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.int(256)) });
  const f = (v: number): Tensor => ({ dtype: 'float32', shape: [], data: Float32Array.of(v) });
  const z = (v: number): Tensor => ({ dtype: 'uint8', shape: [], data: Uint8Array.of(v) });
  const inputs = { q: u8([H, M, D]), kt: u8([H, D, N]), v: u8([H, N, Dv]) };
  const model = buildModel({
    opset: 13,
    extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
    inputs: Object.entries(inputs).map(([name, t]) => ({ name, dtype: 'uint8', shape: [...t.shape] })),
    outputs: [{ name: 'o', dtype: 'uint8', shape: [H, M, Dv] }],
    inits: { sq: f(0.02), zq: z(128), sk: f(0.03), zk: z(120), ss: f(0.05), zs: z(130), sp: f(1 / 256), zp: z(0), sv: f(0.04), zv: z(128), so: f(0.03), zo: z(128) },
    nodes: [
      { op: 'QLinearMatMul', inputs: ['q', 'sq', 'zq', 'kt', 'sk', 'zk', 'ss', 'zs'], outputs: ['s'] },
      { op: 'QLinearSoftmax', domain: 'com.microsoft', inputs: ['s', 'ss', 'zs', 'sp', 'zp'], outputs: ['p'], attrs: { axis: -1, opset: 13 } },
      { op: 'QLinearMatMul', inputs: ['p', 'sp', 'zp', 'v', 'sv', 'zv', 'so', 'zo'], outputs: ['o'] },
    ],
  });
  writeFileSync(join(dir, 'model.onnx'), model);
  const set = join(dir, 'test_data_set_0');
  mkdirSync(set);
  Object.entries(inputs).forEach(([name, t], i) => writeFileSync(join(set, `input_${i}.pb`), encodeTensorPb(name, t)));
  const o = (await runOrt(model, inputs)).o;
  writeFileSync(join(set, 'output_0.pb'), encodeTensorPb('o', { dtype: 'uint8', shape: [...o.dims], data: Uint8Array.from(o.data as ArrayLike<number>) }));
  return dir;
}

describe('qloom exec on an attention core', () => {
  it('three --input files (q, kt, v): the written output equals onnxruntime-node bit for bit, both matmuls reported', async () => {
    const folder = await attentionFolder();
    const set = join(folder, 'test_data_set_0');
    const out = tmp();
    const r = await qloom('exec', join(folder, 'model.onnx'), '--input', `q=${join(set, 'input_0.pb')}`, '--input', `kt=${join(set, 'input_1.pb')}`, '--input', `v=${join(set, 'input_2.pb')}`, '--out-dir', out, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(plain(readFileSync(join(out, 'o.pb')))).toEqual(plain(readFileSync(join(set, 'output_0.pb'))));
    const doc = JSON.parse(r.stdout) as { layers: { name: string; events: number }[] };
    expect(doc.layers.map((l) => l.name)).toEqual(['QLinearMatMul_0', 'QLinearMatMul_2']);
    expect(doc.layers.every((l) => l.events === 0)).toBe(true);
  });

  it('a missing one of the three inputs exits 2 and names it', async () => {
    const folder = await attentionFolder();
    const set = join(folder, 'test_data_set_0');
    const r = await qloom('exec', join(folder, 'model.onnx'), '--input', `q=${join(set, 'input_0.pb')}`, '--input', `v=${join(set, 'input_2.pb')}`, '--out-dir', tmp());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'kt'");
  });
});

