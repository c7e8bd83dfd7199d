/**
 * Quantization-aware training as a user reaches it: `qloom qat` from the command line (bad input
 * refused with every problem named, a short run that writes a model ONNX Runtime loads and whose
 * predictions it reproduces), and QAT entries in a scenario beside PTQ entries of the same widths —
 * the same cost (the hardware sees the same layers and widths), the trained network's accuracy,
 * and the training kept in the QAT cache so a rerun does not train again.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../nets/data/index.js';
import { qloom, qloomWith } from '../helpers/cli.js';

describe('qloom qat', () => {
  it('refuses a bad command line with every problem at once (exit 2), before any work', async () => {
    const r = await qloom('qat', 'fmnist-cnn', '--preset', 'mxfp4', '--data', 'mnist', '--epochs', '0', '--format', 'onnx');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('qloom qat: 5 problems:');
    expect(r.stderr).toContain('--out <file.onnx> is required');
    expect(r.stderr).toContain("--format must be qop or qdq, got 'onnx'");
    expect(r.stderr).toContain('--epochs must be at least 1');
    expect(r.stderr).toContain("--preset mxfp4: format: number format 'mxfp4-e2m1' has no fake quantizer in QAT (integer grids only)");
    expect(r.stderr).toContain('--data mnist: fmnist-cnn was trained on fmnist');
    expect(r.stderr).not.toContain('    at ');
  });

  it('trains, writes a QOperator model, and ORT predicts what qloom reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-qat-'));
    const out = join(dir, 'dwsep-w4a4.onnx');
    const r = await qloom('qat', 'fmnist-dwsep', '--preset', 'w4a4-qat', '--train-samples', '256', '--samples', '200', '--out', out, '--json');
    expect(r.stderr).not.toContain('    at ');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { history: { epoch: number; loss: number }[]; test: { samples: number; top1: number }; qat: { epochs: number }; config: { weights: { bits: number }; activations: { bits: number } }; trainSamples: number };
    expect(doc.history.map((h) => h.epoch)).toEqual([1]);
    expect(doc.trainSamples).toBe(256);
    expect(doc.config.weights.bits).toBe(4);
    expect(doc.config.activations.bits).toBe(4);
    expect(doc.test.samples).toBe(200);
    // ORT on the written file: its top-1 over the same 200 images is the one qloom printed
    const test = loadDataset('fmnist', 'test', { samples: 200, seed: 0 });
    const s = await ort.InferenceSession.create(readFileSync(out), { intraOpNumThreads: 1, logSeverityLevel: 3 });
    const input = s.inputNames[0];
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      const o = await s.run({ [input]: new ort.Tensor('float32', test.images.slice(i * 784, (i + 1) * 784), [1, 1, 28, 28]) });
      const y = o[s.outputNames[0]].data as Float32Array;
      let best = 0;
      for (let j = 1; j < y.length; j++) if (y[j] > y[best]) best = j;
      if (best === test.labels[i]) correct++;
    }
    await s.release();
    expect(correct / test.count).toBe(doc.test.top1);
  }, 300_000);
});

describe('QAT points in a scenario', () => {
  it('cost what PTQ points of the same widths cost, score their own accuracy, and reuse the training on a rerun', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-qat-scenario-'));
    const cache = join(dir, 'cache');
    const file = join(dir, 's.yaml');
    writeFileSync(
      file,
      [
        'name: qat-small',
        'seed: 0',
        'runner: qloom',
        'networks: [fmnist-dwsep]',
        'ptq:',
        '  - { preset: w4a8-pc, actBits: 4, calibSamples: 128, label: PTQ }',
        '  - { qat: w4a4-qat, trainSamples: 256, label: QAT }',
        'archs: [edge-npu]',
        'metrics: [accuracy, cycles, energyPj, bitsMoved, note]',
        'data: { dataset: auto, samples: 100 }',
        '',
      ].join('\n'),
    );
    const env = { ...process.env, QLOOM_QAT_CACHE: cache };
    const run = async (out: string) => {
      const r = await qloomWith({ env }, 'scenario', file, '--out', join(dir, out), '--workers', '0');
      expect(r.stderr).not.toContain('    at ');
      expect(r.code).toBe(0);
      return JSON.parse(readFileSync(join(dir, out, 'results.json'), 'utf8')) as { points: { ptq: string; metrics: Record<string, number | null> }[] };
    };
    const first = await run('a');
    const by = (doc: typeof first, l: string) => doc.points.find((p) => p.ptq === l)!.metrics;
    const ptq = by(first, 'PTQ');
    const qat = by(first, 'QAT');
    expect(qat.note).toBeNull();
    expect(typeof qat.accuracy).toBe('number');
    expect(qat.accuracy!).toBeGreaterThan(0.5);
    // the same layers at the same widths on the same arch: the same cycles and bits moved
    expect(qat.cycles).toBe(ptq.cycles);
    expect(qat.bitsMoved).toBe(ptq.bitsMoved);
    const kept = readdirSync(cache);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^fmnist-dwsep-fmnist-256-[0-9a-f]{16}\.json$/);
    // a fresh output folder (no point cache): the QAT network comes from the checkpoint, same numbers
    const mtime = statSync(join(cache, kept[0])).mtimeMs;
    const second = await run('b');
    expect(by(second, 'QAT')).toEqual(qat);
    // not trained again: the checkpoint was read, not rewritten
    expect(statSync(join(cache, kept[0])).mtimeMs).toBe(mtime);
    expect(existsSync(join(dir, 'b', 'report.html'))).toBe(true);
  }, 600_000);
});
