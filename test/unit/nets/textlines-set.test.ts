/**
 * The `textlines` data set (nets/data/textlines-set.ts): PP-OCR rec's preprocessing on hand-computed
 * pixels, determinism, spellable texts that fit the input unsqueezed, disjoint splits, and the
 * loadDataset entry (texts as the ground truth, the subset rule).
 */
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { preprocessInto, type DecodedImage } from '../../../nets/data/photos.js';
import { blurRgba, renderTextLine, textLineSize } from '../../../nets/data/textlines.js';
import { loadTextlines, textlineImage, textlineSample, textlinesOverlap, textlineWords, TEXTLINES_PREPROCESS, TEXTLINES_SIZES } from '../../../nets/data/textlines-set.js';
import { loadCtcCharset, spellable } from '../../../nets/eval-ctc.js';
import { wordSplit } from '../../../nets/data/orientation.js';

const H = 48;
const W = 320;
const plane = H * W;

/** an image of one colour (R, G, B) */
function solid(width: number, height: number, rgb: readonly [number, number, number]): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, p * 3);
  return { width, height, data };
}

function preprocess(img: DecodedImage): Float32Array {
  const out = new Float32Array(3 * plane).fill(NaN);
  preprocessInto(img, TEXTLINES_PREPROCESS, out, 0);
  return out;
}

describe('PP-OCR rec preprocessing (TEXTLINES_PREPROCESS)', () => {
  it('BGR planes, (x/255 − 0.5)/0.5, width ceil(48·w/h) = 34 for 7×10, zero right padding', () => {
    // R 255 → +1, G 0 → −1, B 51 → 51/127.5 − 1 = −0.6; model channel 0 is blue (cv2 order)
    const x = preprocess(solid(7, 10, [255, 0, 51]));
    const at = (c: number, y: number, col: number): number => x[c * plane + y * W + col];
    for (const [y, col] of [[0, 0], [47, 33], [20, 17]]) {
      expect(at(0, y, col)).toBeCloseTo(-0.6, 6);
      expect(at(1, y, col)).toBe(-1);
      expect(at(2, y, col)).toBe(1);
    }
    // 48·7/10 = 33.6 → 34 columns of image, the rest (34…319) is the zero of padding
    for (let c = 0; c < 3; c++) for (const col of [34, 100, 319]) expect(at(c, 5, col)).toBe(0);
  });

  it('a line wider than 320/48 is squeezed to the full width (no padding)', () => {
    const x = preprocess(solid(100, 10, [0, 0, 0]));
    expect(x[0 * plane + 0 * W + 319]).toBe(-1);
    expect(x[2 * plane + 47 * W + 319]).toBe(-1);
  });

  it('bilinear with half-pixel centres (cv2 INTER_LINEAR): a 2×1 image to 96 columns', () => {
    // src x = (dst + 0.5)·2/96 − 0.5: dst 0…23 clamp to pixel 0 (src ≤ 0), dst 47 → 0.489583…,
    // dst 48 → 0.510417 (between the two), dst 72…95 clamp to pixel 1; grey 0 → −1, grey 255 → 1
    const img: DecodedImage = { width: 2, height: 1, data: new Uint8Array([0, 0, 0, 255, 255, 255]) };
    const x = preprocess(img);
    const v = (col: number): number => x[1 * plane + 30 * W + col];
    expect(v(0)).toBe(-1);
    expect(v(23)).toBe(-1);
    expect(v(47)).toBeCloseTo(2 * ((47.5 * 2) / 96 - 0.5) - 1, 6); // −0.0208333
    expect(v(48)).toBeCloseTo(2 * ((48.5 * 2) / 96 - 0.5) - 1, 6); // +0.0208333
    expect(v(72)).toBe(1);
    expect(v(95)).toBe(1);
    expect(v(96)).toBe(0);
  });
});

describe('textlines samples', () => {
  const cs = loadCtcCharset();

  it('are pure functions of (split, index): the same style and pixels twice', () => {
    const a = textlineSample('test', 17);
    const b = textlineSample('test', 17);
    expect(b).toEqual(a);
    expect(textlineImage(b).data).toEqual(textlineImage(a).data);
    expect(textlineSample('train', 17).text).not.toBe(a.text);
  });

  it('every text is spellable by the recognizer, has no space at its ends, and fits 320×48 unsqueezed', () => {
    let squeezed = 0;
    for (let i = 0; i < 300; i++) {
      const s = textlineSample('test', i);
      expect(spellable(cs, s.text), s.text).toBe(true);
      expect(s.text.trim()).toBe(s.text);
      const { width, height } = textLineSize(s);
      if (width / height > W / H) squeezed++;
    }
    expect(squeezed).toBe(0);
  });

  it('words come from their split only; no text is in both splits', () => {
    const train = new Set(textlineWords('train'));
    expect(textlineWords('test').some((w) => train.has(w))).toBe(false);
    expect(textlineWords('train').every((w) => wordSplit(w) === 'train')).toBe(true);
    expect(textlineWords('test').length).toBeGreaterThan(50_000);
    expect(textlinesOverlap()).toEqual([]);
  }, 60_000);

  it('blur keeps a flat image flat and spreads an edge symmetrically', () => {
    const w = 5;
    const rgba = new Uint8ClampedArray(w * 4);
    for (let x = 0; x < w; x++) rgba.set(x === 2 ? [255, 255, 255, 255] : [0, 0, 0, 255], x * 4);
    const b = blurRgba(rgba, w, 1, 1);
    expect(b[1 * 4]).toBeCloseTo(b[3 * 4], 12);
    expect(b[2 * 4]).toBeGreaterThan(b[1 * 4]);
    expect(b[2 * 4]).toBeLessThan(255);
    expect(b[3]).toBe(255); // alpha untouched
    expect(blurRgba(new Uint8ClampedArray(16).fill(100), 2, 2, 0.7)[4]).toBeCloseTo(100, 12);
    expect(renderTextLine({ ...textlineSample('test', 3), blurPx: 0 }).data).toEqual(renderTextLine({ ...textlineSample('test', 3), blurPx: undefined }).data);
  });
});

describe("loadDataset('textlines')", () => {
  it('gives [n, 3, 48, 320] inputs in [−1, 1] with the texts, a seeded subset in split order', () => {
    const set = loadDataset('textlines', 'test', { samples: 6, seed: 3 });
    expect(set.shape).toEqual([3, 48, 320]);
    expect(set.count).toBe(6);
    expect(set.texts).toHaveLength(6);
    expect(set.images.length).toBe(6 * 3 * plane);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of set.images) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThanOrEqual(1);
    // the same lines as loading those indices directly
    const again = loadDataset('textlines', 'test', { samples: 6, seed: 3 });
    expect(again.texts).toEqual(set.texts);
    const idx = set.texts!.map((t) => Array.from({ length: TEXTLINES_SIZES.test }, (_, i) => i).find((i) => textlineSample('test', i).text === t)!);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    expect(loadTextlines('test', idx).images).toEqual(set.images);
  }, 60_000);
});
