/** `qloom quantize`, `qloom eval --quant` and `qloom debug` as a user runs them. */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';
import { loadQuantizedOnnx } from '../../quant/onnx/qimport.js';


describe('qloom quantize', () => {
  it('bad configuration: exit 2, every problem listed, nothing written, no work done', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-q-'));
    const out = join(dir, 'm.onnx');
    const started = Date.now();
    const r = await qloom('quantize', 'fmnist-cnn', '--preset', 'w9a9', '--w-bits', '1', '--act-per-channel', '--calib', 'fmnist', '--calib-samples', '0', '--out', out);
    expect(r.code).toBe(2);
    for (const s of ["unknown preset 'w9a9'", 'w8a8-pt', '--w-bits', '--act-per-channel', '--calib-samples', '4 problems']) expect(r.stderr).toContain(s);
    expect(readdirSync(dir)).toEqual([]);
    // failing before calibration: far faster than one FP32 pass over the data
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('missing --calib / --out and a bad --format are reported together', async () => {
    const r = await qloom('quantize', 'mnist-mlp', '--preset', 'w8a8-pt', '--format', 'tflite', '--bias-correction', 'magic');
    expect(r.code).toBe(2);
    for (const s of ['--calib is required', '--out', '--format must be qop or qdq', '--bias-correction']) expect(r.stderr).toContain(s);
  });

  it('a good run writes a quantized ONNX model that loads back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-q-'));
    const out = join(dir, 'mlp.onnx');
    const r = await qloom('quantize', 'mnist-mlp', '--preset', 'w8a8-pc', '--calib', 'mnist', '--calib-samples', '64', '--out', out, '--json');
    expect(r.stderr).not.toContain('Error');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { out: string; format: string; configHash: string; linearLayers: number; config: { weights: { perChannel: boolean } } };
    expect(doc.format).toBe('qop');
    expect(doc.linearLayers).toBe(3);
    expect(doc.config.weights.perChannel).toBe(true);
    expect(doc.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(out)).toBe(true);
    expect(readdirSync(dir)).toEqual(['mlp.onnx']); // no temp file left behind
    // the exporter may write a per-channel gemm as a 1×1 QLinearConv: count linear layers
    const net = loadQuantizedOnnx(out);
    expect(net.layers.filter((l) => l.kind === 'gemm' || l.kind === 'conv').length).toBe(3);
  });
});

describe('qloom eval --quant', () => {
  it('bad flags: exit 2 with all problems, including PTQ flags without --quant', async () => {
    const r = await qloom('eval', 'mnist-mlp', '--data', 'mnist', '--w-bits', '20', '--per-channel', '--per-tensor');
    expect(r.code).toBe(2);
    for (const s of ['need(s) --quant', '--per-channel and --per-tensor', '--w-bits']) expect(r.stderr).toContain(s);
    const r2 = await qloom('eval', 'mnist-mlp', '--quant', 'nope', '--data', 'mnist');
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain("unknown preset 'nope'");
  });

  it('quantized top-1 beside FP32 top-1 on the same images', async () => {
    const r = await qloom('eval', 'mnist-mlp', '--quant', 'w8a8-pt', '--data', 'mnist', '--samples', '300', '--calib-samples', '64', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { samples: number; quant: { top1: number; fp32Top1: number; preset: string } };
    expect(doc.samples).toBe(300);
    expect(doc.quant.preset).toBe('w8a8-pt');
    expect(doc.quant.fp32Top1).toBeGreaterThan(0.9);
    expect(Math.abs(doc.quant.top1 - doc.quant.fp32Top1)).toBeLessThan(0.03);
  });
});

describe('qloom debug', () => {
  it('prints the sensitivity table', async () => {
    const r = await qloom('debug', 'mnist-mlp', '--preset', 'w4a8-pc', '--data', 'mnist', '--samples', '100', '--calib-samples', '64');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('FP32 sanity');
    expect(r.stdout).toContain('PASS');
    for (const s of ['quantizer', 'fc1', 'fc2', 'fc3', 'weight', 'activation']) expect(r.stdout).toContain(s);
  });

  it('--json scores every stage against both FP32 references; the CLE flags reach the config', async () => {
    const r = await qloom('debug', 'fmnist-dwsep', '--preset', 'w8a8-pt-cle', '--cle-relu6', 'skip', '--hba-padding', 'exact', '--data', 'fmnist', '--samples', '32', '--calib-samples', '32', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect([j.config.cleRelu6, j.config.hbaPadding]).toEqual(['skip', 'exact']);
    for (const k of ['quantized', 'integer', 'weightsOnly', 'activationsOnly']) {
      expect(typeof j[k].sqnrDb).toBe('number');
      expect(typeof j[k].sqnrDbOriginal).toBe('number');
    }
    expect(j.logits).toBe('logits');
    expect(j.perLayer.length).toBeGreaterThan(5);
    const human = await qloom('debug', 'mnist-mlp', '--preset', 'w8a8-pt', '--data', 'mnist', '--samples', '32', '--calib-samples', '32');
    expect(human.stdout).toMatch(/SQNR vs original/);
    const bad = await qloom('debug', 'mnist-mlp', '--preset', 'w8a8-pt-cle', '--cle-relu6', 'maybe', '--data', 'mnist');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--cle-relu6');
  });

  it('bad preset and dataset: exit 2', async () => {
    const r = await qloom('debug', 'mnist-mlp', '--preset', 'x', '--data', 'cifar');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown preset 'x'");
    expect(r.stderr).toContain('--data must be one of');
  });
});
