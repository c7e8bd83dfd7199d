/** Calibration and evaluation never share an image, for every data set a command can name. */
import { describe, expect, it } from 'vitest';
import { calibrationSet, dataSplits, evaluationSet } from '../../../scenarios/datasets.js';

/** one key per image: its bytes */
function keys(set: { images: Float32Array; count: number }): Set<string> {
  const per = set.images.length / set.count;
  const out = new Set<string>();
  for (let i = 0; i < set.count; i++) out.add(Buffer.from(set.images.buffer, set.images.byteOffset + i * per * 4, per * 4).toString('base64'));
  return out;
}

describe('calibration and evaluation sets', () => {
  it('photos: the calibration half and the evaluation half are disjoint and together the 13 photos', () => {
    const cal = calibrationSet('photos', 'mobilenetv2', { calibSamples: 1024, seed: 0 });
    const ev = evaluationSet('photos', 'mobilenetv2', 100, 0);
    expect([cal.count, ev.count]).toEqual([6, 7]);
    const a = keys(cal);
    for (const k of keys(ev)) expect(a.has(k)).toBe(false);
    // a seeded subset stays inside its half
    const sub = evaluationSet('photos', 'mobilenetv2', 3, 5);
    const e = keys(ev);
    for (const k of keys(sub)) expect(e.has(k)).toBe(true);
    expect(dataSplits('photos')).toEqual({ calibration: 'photos/calib', evaluation: 'photos/eval' });
  });

  it('fmnist: a train subset and a test subset share no image', () => {
    const cal = calibrationSet('fmnist', 'fmnist-cnn', { calibSamples: 512, seed: 3 });
    const ev = evaluationSet('fmnist', 'fmnist-cnn', 512, 3);
    const a = keys(cal);
    let shared = 0;
    for (const k of keys(ev)) if (a.has(k)) shared++;
    // Fashion-MNIST's train and test files are distinct images; duplicates across them are rare
    // but exist in the published data set, so this counts rather than assumes
    expect(shared).toBeLessThanOrEqual(1);
    expect(dataSplits('fmnist')).toEqual({ calibration: 'fmnist/train', evaluation: 'fmnist/test' });
  });
});
