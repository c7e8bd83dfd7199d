/**
 * `qloom run --model` as a user runs it: a quantized QDQ .onnx (written here) on fmnist test
 * images, functional + timing, `--json` with per-layer rows, totals and accuracy, and a Chrome
 * trace that parses; usage errors exit 2.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom, qloomWithin, ROOT } from '../helpers/cli.js';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { buildModel } from '../helpers/onnx-build.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';

const f32 = (shape: number[], v: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const u8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) });
const i8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'int8', shape, data: Int8Array.from(v) });
const i64 = (v: number[]): Tensor => ({ dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

/** x [N,1,28,28] → Q → conv 4×3×3 stride 2 + ReLU → flatten (on integers) → gemm 10 → DQ */
function model(): Uint8Array {
  const rng = new Prng(1);
  const ints = (n: number) => Array.from({ length: n }, () => rng.int(255) - 127);
  return buildModel({
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 1, 28, 28] }],
    outputs: [{ name: 'y', dtype: 'float32' }],
    inits: {
      sx: f32([], [1 / 255]), zx: u8([], [0]),
      w1: i8([4, 1, 3, 3], ints(36)), sw1: f32([], [0.01]), zw1: i8([], [0]),
      s1: f32([], [0.02]), z1: u8([], [0]),
      shp: i64([-1, 676]),
      w2: i8([10, 676], ints(6760)), sw2: f32([], [0.002]), zw2: i8([], [0]),
      s2: f32([], [0.1]), z2: u8([], [128]),
    },
    nodes: [
      { op: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] },
      { op: 'DequantizeLinear', inputs: ['xq', 'sx', 'zx'], outputs: ['xf'] },
      { op: 'DequantizeLinear', inputs: ['w1', 'sw1', 'zw1'], outputs: ['w1f'] },
      { name: 'conv', op: 'Conv', inputs: ['xf', 'w1f'], outputs: ['c'], attrs: { kernel_shape: [3, 3], strides: [2, 2] } },
      { op: 'Relu', inputs: ['c'], outputs: ['r'] },
      { op: 'QuantizeLinear', inputs: ['r', 's1', 'z1'], outputs: ['rq'] },
      { op: 'Reshape', inputs: ['rq', 'shp'], outputs: ['fq'] },
      { op: 'DequantizeLinear', inputs: ['fq', 's1', 'z1'], outputs: ['ff'] },
      { op: 'DequantizeLinear', inputs: ['w2', 'sw2', 'zw2'], outputs: ['w2f'] },
      { name: 'fc', op: 'Gemm', inputs: ['ff', 'w2f'], outputs: ['g'], attrs: { transB: 1 } },
      { op: 'QuantizeLinear', inputs: ['g', 's2', 'z2'], outputs: ['gq'] },
      { op: 'DequantizeLinear', inputs: ['gq', 's2', 'z2'], outputs: ['y'] },
    ],
  });
}

describe.skipIf(!existsSync(FMNIST))('qloom run --model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-run-model-'));
  const file = join(dir, 'q.onnx');
  writeFileSync(file, model());

  it('runs a quantized .onnx on fmnist: --json per-layer rows, totals, accuracy; --trace writes a Chrome trace', async () => {
    const trace = join(dir, 'trace.json');
    const r = await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '20', '--batch', '8', '--json', '--trace', trace);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { layers: { name: string; macs: number; cycles: number; overflows: number }[]; totals: { macs: number; cycles: number }; accuracy: number; samples: number };
    expect(doc.samples).toBe(20);
    expect(doc.accuracy).toBeGreaterThanOrEqual(0);
    expect(doc.accuracy).toBeLessThanOrEqual(1);
    const conv = doc.layers.find((l) => l.name === 'conv')!;
    const fc = doc.layers.find((l) => l.name === 'fc')!;
    // hand count, per inference: conv 13·13 outputs × 4 channels × 9; fc 10 × 676
    expect(conv.macs).toBe(13 * 13 * 4 * 9);
    expect(fc.macs).toBe(6760);
    expect(doc.totals.cycles).toBeGreaterThan(0);
    const t = JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: { ph: string; name: string }[] };
    expect(t.traceEvents.some((e) => e.ph === 'X' && e.name === 'conv')).toBe(true);
    expect(t.traceEvents.some((e) => e.ph === 'X' && e.name.startsWith('fold'))).toBe(true);
  }, 60_000);

  it('human output: the layer table, totals and top-1 accuracy', async () => {
    const r = await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/overflows/);
    expect(r.stdout).toMatch(/top-1 accuracy on fmnist\/test \(10 samples\): \d+\.\d\d%/);
  }, 60_000);

  it('a per-channel preset on an arch whose requant unit is per-tensor only: exit 2, one line naming the arch and the field', async () => {
    const r = await qloom('run', '--arch', 'mcu-npu', '--model', 'fmnist-cnn', '--preset', 'w8a8-pc', '--data', 'fmnist', '--samples', '4');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^qloom run: mcu-npu requantizes per tensor only \(requant\.perChannel false\); per-channel weights need one \(M0, shift\) per output channel: [^\n]*\n$/);
    expect(r.stdout).toBe('');
  }, 60_000);

  it('an arch that gates zero activations and compresses them on the DRAM interface: the savings per layer from the data, in the table and in --json', async () => {
    const { PRESETS } = await import('../../arch/presets.js');
    const base = structuredClone(PRESETS['edge-npu']);
    const arch = join(dir, 'gated.json');
    writeFileSync(arch, JSON.stringify({ ...base, name: 'edge-npu-gated', pe: { ...base.pe, zeroGating: 'activation' }, memories: { ...base.memories, dram: { ...base.memories.dram, activationCompression: 'bitmap' } } }));
    const human = await qloom('run', '--arch', arch, '--model', file, '--data', 'fmnist', '--samples', '10');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/zero-act MACs +gated MACs +DRAM KiB saved/);
    type Doc = { layers: { name: string; energyPj: number; zeros?: { zeroActMacFraction: number; gatedMacs: number }; compression?: { savedBits: number } }[]; totals: { energyPj: number; cycles: number } };
    const gated = JSON.parse((await qloom('run', '--arch', arch, '--model', file, '--data', 'fmnist', '--samples', '10', '--json')).stdout) as Doc;
    const plain = JSON.parse((await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10', '--json')).stdout) as Doc;
    const conv = gated.layers.find((l) => l.name === 'conv')!;
    // Fashion-MNIST's background is 0, the zero point of x: many conv MACs have a zero activation
    expect(conv.zeros!.zeroActMacFraction).toBeGreaterThan(0.2);
    expect(conv.zeros!.gatedMacs).toBeCloseTo(conv.zeros!.zeroActMacFraction * 13 * 13 * 4 * 9, 6);
    expect(gated.layers.reduce((a, l) => a + (l.compression?.savedBits ?? 0), 0)).toBeGreaterThan(0);
    expect(plain.layers.every((l) => l.zeros === undefined && l.compression === undefined)).toBe(true);
    expect(gated.totals.energyPj).toBeLessThan(plain.totals.energyPj);
    expect(gated.totals.cycles).toBe(plain.totals.cycles);
    // --zeros: the same fractions on an arch that does not gate, nothing gated, the energy unchanged
    const counted = JSON.parse((await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10', '--zeros', '--json')).stdout) as Doc;
    const c = counted.layers.find((l) => l.name === 'conv')!;
    expect(c.zeros!.zeroActMacFraction).toBe(conv.zeros!.zeroActMacFraction);
    expect(c.zeros!.gatedMacs).toBe(0);
    expect(counted.totals.energyPj).toBe(plain.totals.energyPj);
    const topo = await qloom('run', '--arch', 'edge-npu', '--topology', join(ROOT, 'bench', 'topologies', 'Resnet50.csv'), '--zeros');
    expect(topo.code).toBe(2);
    expect(topo.stderr).toMatch(/--zeros/);
  }, 60_000);

  it('--on-chip optimal keeps layer outputs in the buffer: per-layer onChip, less DRAM traffic and energy, the same accuracy; a split-buffer arch refuses it; a zero-skipping arch takes fewer cycles', async () => {
    type Doc = { accuracy: number; layers: { name: string; onChip?: { inputBytes: number; output: string }; dramBytes: { read: number; write: number } }[]; totals: { energyPj: number } };
    const plain = JSON.parse((await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10', '--json')).stdout) as Doc;
    const kept = JSON.parse((await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10', '--on-chip', 'optimal', '--json')).stdout) as Doc;
    expect(kept.accuracy).toBe(plain.accuracy);
    expect(kept.totals.energyPj).toBeLessThan(plain.totals.energyPj);
    const conv = kept.layers.find((l) => l.name === 'conv')!;
    // the conv reads its quantized input where the quantize layer left it: none of it from DRAM
    expect(conv.onChip!.inputBytes).toBeGreaterThan(0);
    const before = plain.layers.find((l) => l.name === 'conv')!;
    expect(before.dramBytes.read - conv.dramBytes.read).toBe(conv.onChip!.inputBytes);
    // a zero-skipping arch: the share of all-zero streamed vectors per layer, and fewer cycles
    const { PRESETS } = await import('../../arch/presets.js');
    const base = structuredClone(PRESETS['edge-npu']);
    const skipArch = join(dir, 'skip.json');
    writeFileSync(skipArch, JSON.stringify({ ...base, name: 'edge-npu-skip', pe: { ...base.pe, zeroSkipping: 'activation' } }));
    const skip = await qloom('run', '--arch', skipArch, '--model', file, '--data', 'fmnist', '--samples', '10');
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stdout).toMatch(/zero vectors/);
    const cyclesOf = (out: string): number => Number(/cycles ([\d,]+) \(/.exec(out)![1].replace(/,/g, ''));
    const plainHuman = await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10');
    expect(cyclesOf(skip.stdout)).toBeLessThan(cyclesOf(plainHuman.stdout));
    const human = await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10', '--on-chip', 'greedy');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/on chip/);
    const split = await qloom('run', '--arch', 'scalesim-default', '--model', file, '--data', 'fmnist', '--samples', '10', '--on-chip', 'greedy');
    // an arch that cannot do it is a configuration error (exit 1), named by its field
    expect(split.code).toBe(1);
    expect(split.stderr).toMatch(/memories\.onChipBoundaries/);
    expect(split.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('json: overflows over all samples, per sample, and by accumulator; the requant mode is the arch\'s (fixed) unless asked', async () => {
    const r = await qloom('run', '--arch', 'mcu-npu', '--model', file, '--data', 'fmnist', '--samples', '6', '--batch', '4', '--json');
    expect(r.code, r.stderr).toBe(0);
    type Ov = { overflows: number; overflowsPerSample: number; overflowsBy: { array: number; accumulator: number } };
    const doc = JSON.parse(r.stdout) as { layers: (Ov & { name: string })[]; totals: Ov; samples: number; requant: string };
    expect(doc.requant).toBe('fixed');
    expect(doc.samples).toBe(6);
    for (const x of [...doc.layers, doc.totals]) {
      expect(x.overflows).toBe(x.overflowsBy.array + x.overflowsBy.accumulator);
      expect(x.overflowsPerSample).toBeCloseTo(x.overflows / 6, 9);
    }
    expect(doc.totals.overflowsBy.array).toBe(doc.layers.reduce((s, l) => s + l.overflowsBy.array, 0));
    const f = await qloom('run', '--arch', 'mcu-npu', '--model', file, '--data', 'fmnist', '--samples', '6', '--requant', 'float', '--json');
    expect((JSON.parse(f.stdout) as { requant: string }).requant).toBe('float');
  }, 60_000);

  it('a float model without --preset, or without --data, is a usage error (exit 2)', async () => {
    expect((await qloom('run', '--arch', 'edge-npu', '--model', 'fmnist-cnn', '--data', 'fmnist')).code).toBe(2);
    expect((await qloom('run', '--arch', 'edge-npu', '--model', file)).code).toBe(2);
  }, 60_000);

  it('--data photos scores a PTQ-quantized pretrained MobileNetV2 by agreement with FP32 and output SQNR', async () => {
    const r = await qloom('run', '--arch', 'edge-npu', '--model', 'mobilenetv2', '--preset', 'w8a8-pc', '--data', 'photos', '--samples', '2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { accuracy: number; sqnrDb: number; samples: number; totals: { macs: number } };
    expect(doc.samples).toBe(2);
    expect(doc.accuracy).toBeGreaterThanOrEqual(0);
    expect(doc.accuracy).toBeLessThanOrEqual(1);
    // W8A8 per-channel keeps MobileNetV2's outputs close to FP32 (22–30 dB on these photos); a broken
    // pipeline — or W4 with nearest rounding — lands near 0 dB, so 15 dB tells them apart
    expect(doc.sqnrDb).toBeGreaterThan(15);
    // MobileNetV2 at 224×224 is ~300 M MACs per image (the published 300 M), batch 1
    expect(doc.totals.macs).toBeGreaterThan(2.9e8);
    // a quantized file has no FP32 model to agree with
    expect((await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'photos')).code).toBe(2);
  }, 120_000);

  it('--trace and --out into missing folders are created; under /proc, or --samples above the set, refused in one line before the run', async () => {
    const out = join(dir, 'missing', 'deeper');
    const r = await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '4', '--trace', join(out, 't.json'), '--out', join(out, 'r.json'), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['r.json', 't.json']);
    if (existsSync('/proc/self')) {
      for (const flag of ['--trace', '--out']) {
        const bad = await qloomWithin(60_000, 'run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '4', flag, '/proc/x/y/t.json');
        expect(bad.code).toBe(1);
        expect(bad.stderr).toBe('qloom run: cannot write /proc/x/y/t.json: cannot create files in /proc: no such file or folder (ENOENT)\n');
      }
    }
    const many = await qloom('run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '99999999');
    expect(many.code).toBe(2);
    expect(many.stderr).toBe('qloom run: fmnist/test has 10000 images: samples must be an integer in 1…10000, got 99999999\n');
  }, 120_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s while the trace is written: the temp file is removed, nothing half-written stays, exit %i', async (signal, code) => {
    const out = mkdtempSync(join(tmpdir(), 'qloom-interrupt-'));
    const trace = join(out, 't.json');
    // every fmnist test image in batches of 5: the trace stays open until the last batch, seconds away
    const child = spawn('node', [join(ROOT, 'cli/qloom.js'), 'run', '--arch', 'edge-npu', '--model', file, '--data', 'fmnist', '--samples', '10000', '--batch', '5', '--trace', trace, '--json'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const tmp = `${trace}.${child.pid}.tmp`;
    const seen = await new Promise<boolean>((resolve) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (existsSync(tmp) || Date.now() - started > 60_000 || child.exitCode !== null) {
          clearInterval(poll);
          resolve(existsSync(tmp));
        }
      }, 20);
    });
    expect(seen, `no ${tmp} while the run went on; stderr: ${stderr}`).toBe(true);
    child.kill(signal);
    expect(await exited, stderr).toBe(code);
    expect(stderr).toContain(`qloom run: interrupted (${signal}); removed 1 unfinished file\n`);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(out)).toEqual([]);
  }, 120_000);
});
