/**
 * `orientation`: rendered text lines, half of them turned by 180°, for PP-OCR's text-direction
 * classifier (`ppocr-cls`). Labels are known by construction and use the classifier's class order,
 * PaddleOCR's `cls_label_list` default `['0', '180']` (tools/infer/utility.py; predict_cls.py turns a
 * crop by 180° when the label contains '180'): label 0 = upright, 1 = turned by 180°.
 *
 * Sample `i` of a split is a pure function of (split, i): its style comes from its own PRNG stream,
 * seeded from the split's stream constant and `i`, so any subset renders without the rest, and the
 * odd indices are the turned ones (each split exactly half and half).
 *
 * - Text: 1–3 tokens, words from Debian `wamerican` (ASCII letters, 2–14 long; lower case, Title or
 *   UPPER case per line) with the odd number, price, time or date, and trailing punctuation or
 *   brackets. Lines that read the same after a 180° turn ("SOS", "suns", "pod") are drawn again.
 * - Rendering (textlines.ts): 16 faces of DejaVu, Liberation and Noto (fonts-dejavu-core,
 *   fonts-liberation2, fonts-noto-core), 16–44 px, dark ink on light paper with a per-channel tint,
 *   margins of a detector's crop, ±1.5° tilt, Gaussian pixel noise σ ≤ 10 grey levels.
 * - Preprocessing: exactly `ppocr-cls`'s (preprocess.ts: BGR, bilinear to height 48 keeping the
 *   aspect ratio, width ≤ 192, (x/255 − 0.5)/0.5, zero right padding), so images are [3, 48, 192]
 *   model inputs in [−1, 1], not pixel/255.
 *
 * Splits: train (calibration) 1,024 lines, test 2,000. Disjoint by construction — different PRNG
 * streams, and the word list is partitioned by a hash of each lower-cased word (1 in 8 words to
 * train, the rest to test) so that no line of one split can contain a word of the other and no text
 * occurs in both — and checked: `orientationOverlap` lists texts found in both (none).
 *
 * Measured: FP32 ppocr-cls on the full test split, `qloom eval ppocr-cls`: top-1 98.85 %
 * (1977/2000; Wilson 95 % interval 98.28–99.23 %), 163 s on 2 shared cores (render ≈ 5 ms a line,
 * the model ≈ 55 ms a line). docs/orientation-samples.png shows 16 test lines
 * (`npx tsx scripts/orientation-sheet.ts`).
 */
import { DatasetError } from '../errors.js';
import { Prng } from '../prng.js';
import { preprocessInto } from './photos.js';
import { getPreprocess } from './preprocess.js';
import { FONT_FACES, loadWords, renderTextLine, rotate180, sharedTexts, type Rgb, type TextLineStyle } from './textlines.js';
import type { DecodedImage } from './photos.js';
import type { RawSplit, Split } from './types.js';

/** class index → ppocr-cls's label (PaddleOCR `cls_label_list`) */
export const ORIENTATION_CLASSES: readonly string[] = Object.freeze(['0', '180']);

export const ORIENTATION_SIZES: Readonly<Record<Split, number>> = Object.freeze({ train: 1024, test: 2000 });

/** PRNG stream constant per split ('trai', 'test' in ASCII) */
const STREAM: Readonly<Record<Split, number>> = { train: 0x74726169, test: 0x74657374 };

/** 1 in TRAIN_SHARE words (by hash) is a train word, the rest are test words */
const TRAIN_SHARE = 8;

export interface OrientationSample extends TextLineStyle {
  readonly split: Split;
  readonly index: number;
  /** 0: upright ('0'), 1: turned by 180° ('180') */
  readonly label: 0 | 1;
}

/** FNV-1a 32-bit of a string's UTF-16 code units */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Which split a word belongs to (case-insensitive). */
export function wordSplit(word: string): Split {
  return fnv1a(word.toLowerCase()) % TRAIN_SHARE === 0 ? 'train' : 'test';
}

const vocabCache = new Map<Split, readonly string[]>();

/** The words a split draws from (file order). */
export function splitWords(split: Split): readonly string[] {
  let v = vocabCache.get(split);
  if (!v) {
    v = loadWords().filter((w) => wordSplit(w) === split);
    vocabCache.set(split, v);
  }
  return v;
}

/** Characters that a 180° turn maps onto a character (in the common faces); others have no image. */
const TURNED: Readonly<Record<string, string>> = {
  N: 'N', O: 'O', S: 'S', Z: 'Z', H: 'H', I: 'I', X: 'X', M: 'W', W: 'M',
  o: 'o', s: 's', x: 'x', z: 'z', l: 'l', d: 'p', p: 'd', b: 'q', q: 'b', n: 'u', u: 'n',
  '0': '0', '8': '8', '6': '9', '9': '6', '-': '-', '+': '+', '=': '=', ' ': ' ', ':': ':', '/': '/', '%': '%',
};

/** True when the text turned by 180° reads as itself, so no classifier can tell the two apart. */
export function readsSameTurned(text: string): boolean {
  let turned = '';
  for (let i = text.length - 1; i >= 0; i--) {
    const t = TURNED[text[i]];
    if (t === undefined) return false;
    turned += t;
  }
  return turned === text;
}

export function pick<T>(rng: Prng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

export function uniform(rng: Prng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

export function numberToken(rng: Prng): string {
  switch (rng.int(7)) {
    case 0:
      return String(1 + rng.int(99));
    case 1:
      return String(1000 + rng.int(9000));
    case 2:
      return String(1900 + rng.int(131));
    case 3:
      return `$${1 + rng.int(999)}.${String(rng.int(100)).padStart(2, '0')}`;
    case 4:
      return `${rng.int(101)}%`;
    case 5:
      return `${1 + rng.int(12)}:${String(rng.int(60)).padStart(2, '0')}`;
    default:
      return `${1 + rng.int(28)}/${String(1 + rng.int(12)).padStart(2, '0')}`;
  }
}

function lineText(rng: Prng, words: readonly string[]): string {
  const n = 1 + rng.int(3);
  const kinds = Array.from({ length: n }, () => (rng.next() < 0.85 ? 'word' : 'number'));
  // every line holds at least one word of its split: the splits then share no text
  if (!kinds.includes('word')) kinds[rng.int(n)] = 'word';
  const caseStyle = rng.next();
  const tokens = kinds.map((k) => {
    if (k === 'number') return numberToken(rng);
    const w = pick(rng, words);
    if (caseStyle < 0.6) return w;
    if (caseStyle < 0.85) return w[0].toUpperCase() + w.slice(1);
    return w.toUpperCase();
  });
  for (let i = 0; i < tokens.length; i++) {
    const r = rng.next();
    if (r < 0.12) tokens[i] += pick(rng, [',', '.', ':', ';', '!', '?']);
    else if (r < 0.15) {
      const [open, close] = pick(rng, ['()', '""', '[]']);
      tokens[i] = open + tokens[i] + close;
    }
  }
  return tokens.join(' ');
}

export function tint(rng: Prng, base: number, spread: number): Rgb {
  const c = (): number => Math.max(0, Math.min(255, Math.round(base + uniform(rng, -spread, spread))));
  return [c(), c(), c()];
}

/** Seed of sample `index`'s own PRNG stream in `split`. */
export function sampleSeed(split: Split, index: number): number {
  return (STREAM[split] ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/** The style and label of sample `index` of `split` (no rendering). */
export function orientationSample(split: Split, index: number): OrientationSample {
  const size = ORIENTATION_SIZES[split];
  if (!Number.isInteger(index) || index < 0 || index >= size) throw new RangeError(`orientation/${split}: index ${index} outside 0…${size - 1}`);
  const rng = new Prng(sampleSeed(split, index));
  const words = splitWords(split);
  let text = lineText(rng, words);
  while (readsSameTurned(text)) text = lineText(rng, words);
  const fontPx = 16 + rng.int(29);
  return {
    split,
    index,
    label: (index % 2) as 0 | 1,
    text,
    face: rng.int(FONT_FACES.length),
    fontPx,
    ink: tint(rng, uniform(rng, 0, 70), 30),
    paper: tint(rng, uniform(rng, 195, 245), 12),
    padLeft: Math.round(fontPx * uniform(rng, 0.05, 0.6)),
    padRight: Math.round(fontPx * uniform(rng, 0.05, 0.6)),
    padTop: Math.round(fontPx * uniform(rng, 0.02, 0.25)),
    padBottom: Math.round(fontPx * uniform(rng, 0.02, 0.25)),
    tiltDeg: uniform(rng, -1.5, 1.5),
    noise: uniform(rng, 0, 10),
    noiseSeed: rng.nextU32(),
  };
}

/** The rendered line of a sample, as a crop would arrive (turned when its label says so), 8-bit RGB. */
export function orientationImage(s: OrientationSample): DecodedImage {
  const img = renderTextLine(s);
  return s.label === 1 ? rotate180(img) : img;
}

/**
 * Samples `indices` of a split (all of it by default), rendered and preprocessed for ppocr-cls:
 * [n, 3, 48, 192] float32 in the order of `indices`.
 */
export function loadOrientation(split: Split, indices?: ArrayLike<number>): RawSplit {
  const size = ORIENTATION_SIZES[split];
  if (size === undefined) throw new DatasetError(`orientation: unknown split '${String(split)}' (train | test)`);
  const idx = indices ?? Int32Array.from({ length: size }, (_, i) => i);
  const p = getPreprocess('ppocr-cls');
  const per = p.channels * p.height * p.width;
  const images = new Float32Array(idx.length * per);
  const labels = new Uint8Array(idx.length);
  let scratch: Float64Array | undefined;
  for (let i = 0; i < idx.length; i++) {
    const s = orientationSample(split, idx[i]);
    scratch = preprocessInto(orientationImage(s), p, images, i * per, scratch);
    labels[i] = s.label;
  }
  return { images, labels, count: idx.length, shape: [p.channels, p.height, p.width], classes: ORIENTATION_CLASSES };
}

/** Texts that occur in both splits (by construction none; the check that says so). */
export function orientationOverlap(): string[] {
  return sharedTexts(ORIENTATION_SIZES, (split, i) => orientationSample(split, i).text);
}
