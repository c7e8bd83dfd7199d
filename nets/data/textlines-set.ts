/**
 * `textlines`: rendered text lines with their text as ground truth, for PP-OCR's recognizer
 * (`ppocr-rec`, CTC over `ppocr_keys_v1.txt`; scored by nets/eval-ctc.ts).
 *
 * Sample `i` of a split is a pure function of (split, i), as in orientation.ts: its style comes from
 * its own PRNG stream, so any subset renders without the rest.
 *
 * - Text: 1–4 tokens joined by spaces (now and then " - ", " & ", " / "): words of Debian `wamerican`
 *   whose every character the recognizer can spell (possessives and accented words such as "café"
 *   kept; 2–14 characters), lower case, Title, UPPER or per-word Title; and numbers — counts, years,
 *   prices, percentages, times, dates, phone numbers, decimals, thousands, codes ("KX-4471"),
 *   "#12", measures ("3.5kg"); trailing punctuation, brackets and quotes. Every character is a class
 *   of the recognizer, so a perfect reader scores 100 %.
 * - The line fits the recognizer's input: rendered width / height ≤ 320 / 48, so preprocessing never
 *   squeezes it (tokens are dropped from the end until it fits, margins narrowed for a single long
 *   word).
 * - Rendering (textlines.ts): the 16 faces of DejaVu, Liberation and Noto, 14–40 px, dark ink on
 *   light paper (1 line in 10 light on dark), margins of a detector's crop, ±1° tilt, Gaussian blur
 *   σ 0.3–1.0 px on half the lines, Gaussian pixel noise σ ≤ 8 grey levels.
 * - Preprocessing: PaddleOCR's recognizer's (`TEXTLINES_PREPROCESS`): BGR, bilinear to height 48
 *   keeping the aspect ratio (width ⌈48·w/h⌉, at most 320), (x/255 − 0.5)/0.5, zero right padding:
 *   images are [3, 48, 320] model inputs in [−1, 1].
 *
 * Splits: train (calibration) 1,024 lines, test 2,000. Disjoint as orientation's are: other PRNG
 * streams, and the word list split by orientation.ts's hash of the lower-cased word (1 in 8 to
 * train), every line holding at least one word of its split; `textlinesOverlap` checks (none).
 *
 * Measured: PP-OCRv4 rec (the original ONNX in onnxruntime-node 1.30, `npx tsx bench/textlines-ort.ts`)
 * on the full test split: line accuracy 92.15 % (1843/2000, Wilson 95 % 90.89–93.25 %), character
 * accuracy 97.85 % (1 − 500 edits / 23,277 characters), PaddleOCR's normalized-edit accuracy
 * 97.69 %. Nearly all misreads are at 11–20 px (79.3 % of lines there, 98.5–98.9 % above) and on
 * blurred lines (89.0 % vs 97.1 % sharp); a dropped space between tokens ("88%dissent") is the
 * commonest error. Render ≈ 14 ms a line, ORT ≈ 80 ms a line (1 thread, 2 shared cores, load 5–7).
 * qloom's FP32 executor on the seeded 500-line subset (`qloom eval ppocr-rec --data textlines
 * --samples 500`): line accuracy 93.60 % (468/500), character accuracy 98.28 % (98 edits / 5,711),
 * normalized-edit 97.89 % — the same counts as ORT on the same 500 lines (`bench/textlines-ort.ts
 * --samples 500`); 171 s CPU (≈ 0.34 s a line). W8A8 per-channel (`qloom eval ppocr-rec --quant
 * w8a8-pc --calib-samples 64 --data textlines --samples 200`, calibrated on 64 train lines): character
 * accuracy 96.79 % vs FP32 97.98 % on the same 200 lines (73 vs 46 edits / 2,276), line accuracy
 * 89.5 % vs 90.5 % (179 vs 181); 1,063 s CPU, 2.1 GB peak, PTQ most of it.
 * docs/textlines-samples.png shows 20 test lines (`npx tsx bench/textlines-sheet.ts`).
 */
import { DatasetError } from '../errors.js';
import { loadCtcCharset, spellable } from '../eval-ctc.js';
import { Prng } from '../prng.js';
import { numberToken, pick, tint, uniform, wordSplit } from './orientation.js';
import { preprocessInto, type DecodedImage } from './photos.js';
import { getPreprocess, type Preprocess } from './preprocess.js';
import { FONT_FACES, loadWordEntries, renderTextLine, sharedTexts, textLineSize, type TextLineStyle } from './textlines.js';
import type { RawSplit, Split } from './types.js';

export const TEXTLINES_SIZES: Readonly<Record<Split, number>> = Object.freeze({ train: 1024, test: 2000 });

/** PRNG stream constant per split ('Ltrn', 'Ltst' in ASCII: not orientation's streams) */
const STREAM: Readonly<Record<Split, number>> = { train: 0x4c74726e, test: 0x4c747374 };

/** the recognizer's input width the lines are made to fit (and padded to) */
export const TEXTLINES_WIDTH = 320;

/**
 * PaddleOCR `tools/infer/predict_rec.py` `TextRecognizer.resize_norm_img` (SVTR_LCNet / CTC models,
 * `rec_image_shape` 3,48,320): the crop from `cv2.imread` (BGR), `cv2.resize(img, (resized_w, 48))`
 * (INTER_LINEAR, half-pixel centres) with `resized_w = min(imgW, ceil(48·w/h))`, `/255 − 0.5) / 0.5`,
 * copied into a zero [3, 48, imgW] tensor. predict_rec widens imgW to the batch's widest line;
 * with a fixed-width model input it stays 320 and a wider line is squeezed (training's
 * RecResizeImg does the same); textlines' lines are made to fit.
 */
export const TEXTLINES_PREPROCESS: Preprocess = Object.freeze({
  // the direction classifier's resize_norm_img at another width (the two are the same code in PaddleOCR)
  ...getPreprocess('ppocr-cls'),
  model: 'ppocr-rec',
  source: 'PaddleOCR predict_rec.py resize_norm_img: cv2 BGR, INTER_LINEAR to h=48 w<=320 keeping aspect, (x/255-0.5)/0.5, zero pad right',
  width: TEXTLINES_WIDTH,
});

export interface TextLineSample extends TextLineStyle {
  readonly split: Split;
  readonly index: number;
}

const vocabCache = new Map<Split, readonly string[]>();

/**
 * The words a split draws from: wamerican entries of 2–14 characters that the recognizer can spell
 * (every character in its dictionary), in file order, split by orientation.ts's word hash.
 */
export function textlineWords(split: Split): readonly string[] {
  let v = vocabCache.get(split);
  if (!v) {
    const cs = loadCtcCharset();
    v = Object.freeze(
      loadWordEntries().filter((w) => {
        const n = [...w].length;
        return n >= 2 && n <= 14 && !w.includes(' ') && spellable(cs, w) && wordSplit(w) === split;
      }),
    );
    vocabCache.set(split, v);
  }
  return v;
}

/** Numbers and codes beyond orientation's (which it draws from too). */
function codeToken(rng: Prng): string {
  const digits = (n: number): string => Array.from({ length: n }, () => String(rng.int(10))).join('');
  const letters = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(65 + rng.int(26))).join('');
  switch (rng.int(7)) {
    case 0:
      return `${digits(3)}-${digits(4)}`;
    case 1:
      return `${rng.int(1000)}.${digits(1 + rng.int(2))}`;
    case 2:
      return `#${1 + rng.int(999)}`;
    case 3:
      return `${letters(1 + rng.int(2))}-${digits(3 + rng.int(2))}`;
    case 4:
      return `${1 + rng.int(99)},${digits(3)}`;
    case 5:
      return `${1 + rng.int(500)}${pick(rng, ['kg', 'km', 'cm', 'ml', 'mm', 'g', 'h', 'MB'])}`;
    default:
      return `v${1 + rng.int(9)}.${rng.int(20)}`;
  }
}

interface Token {
  readonly text: string;
  readonly word: boolean;
}

function lineTokens(rng: Prng, words: readonly string[]): Token[] {
  const r = rng.next();
  const n = r < 0.25 ? 1 : r < 0.6 ? 2 : r < 0.85 ? 3 : 4;
  const kinds = Array.from({ length: n }, () => rng.next() < 0.8);
  // every line holds at least one word of its split: the splits then share no text
  if (!kinds.includes(true)) kinds[rng.int(n)] = true;
  const caseStyle = rng.next();
  return kinds.map((word) => {
    if (!word) return { text: rng.next() < 0.5 ? numberToken(rng) : codeToken(rng), word };
    const w = pick(rng, words);
    const title = w[0].toUpperCase() + w.slice(1);
    let text = w;
    if (caseStyle < 0.55) text = w;
    else if (caseStyle < 0.8) text = title;
    else if (caseStyle < 0.9) text = w.toUpperCase();
    else text = rng.next() < 0.5 ? title : w;
    const p = rng.next();
    if (p < 0.12) text += pick(rng, [',', '.', ':', ';', '!', '?']);
    else if (p < 0.17) {
      const [open, close] = pick(rng, ['()', '[]', '""', "''"]);
      text = open + text + close;
    }
    return { text, word };
  });
}

function joinTokens(rng: Prng, tokens: readonly Token[]): string {
  let s = tokens[0].text;
  for (let i = 1; i < tokens.length; i++) s += (rng.next() < 0.9 ? ' ' : pick(rng, [' - ', ' & ', ' / '])) + tokens[i].text;
  return s;
}

/** Seed of sample `index`'s own PRNG stream in `split`. */
function textlineSeed(split: Split, index: number): number {
  return (STREAM[split] ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/** The style of sample `index` of `split` (text, face, size, colours, margins, blur, noise). */
export function textlineSample(split: Split, index: number): TextLineSample {
  const size = TEXTLINES_SIZES[split];
  if (!Number.isInteger(index) || index < 0 || index >= size) throw new RangeError(`textlines/${split}: index ${index} outside 0…${size - 1}`);
  const rng = new Prng(textlineSeed(split, index));
  const tokens = lineTokens(rng, textlineWords(split));
  const fontPx = 11 + rng.int(30);
  const face = rng.int(FONT_FACES.length);
  let ink = tint(rng, uniform(rng, 0, 110), 30);
  let paper = tint(rng, uniform(rng, 160, 245), 12);
  if (rng.next() < 0.1) [ink, paper] = [paper, ink];
  let padLeft = Math.round(fontPx * uniform(rng, 0.05, 0.4));
  let padRight = Math.round(fontPx * uniform(rng, 0.05, 0.4));
  const padTop = Math.round(fontPx * uniform(rng, 0.02, 0.2));
  const padBottom = Math.round(fontPx * uniform(rng, 0.02, 0.2));
  const joinSeed = rng.nextU32();
  const tiltDeg = uniform(rng, -1.5, 1.5);
  const blurPx = rng.next() < 0.6 ? uniform(rng, 0.3, 1.4) : 0;
  const noise = uniform(rng, 0, 12);
  const noiseSeed = rng.nextU32();
  // drop tokens from the end (never the last word) until the line fits the input unsqueezed
  const maxAspect = TEXTLINES_PREPROCESS.width / TEXTLINES_PREPROCESS.height;
  const fits = (text: string): boolean => {
    const { width, height } = textLineSize({ text, face, fontPx, padLeft, padRight, padTop, padBottom });
    return width / height <= maxAspect;
  };
  let text = joinTokens(new Prng(joinSeed), tokens);
  while (tokens.length > 1 && !fits(text)) {
    const words = tokens.filter((t) => t.word).length;
    let drop = tokens.length - 1;
    if (tokens[drop].word && words === 1) while (tokens[drop].word) drop--;
    tokens.splice(drop, 1);
    text = joinTokens(new Prng(joinSeed), tokens);
  }
  if (!fits(text)) padLeft = padRight = Math.round(fontPx * 0.05);
  return { split, index, text, face, fontPx, ink, paper, padLeft, padRight, padTop, padBottom, tiltDeg, noise, noiseSeed, ...(blurPx > 0 ? { blurPx } : {}) };
}

/** The rendered line of a sample, 8-bit RGB. */
export function textlineImage(s: TextLineSample): DecodedImage {
  return renderTextLine(s);
}

/**
 * Samples `indices` of a split (all of it by default), rendered and preprocessed for ppocr-rec:
 * [n, 3, 48, 320] float32 and the texts, in the order of `indices`.
 */
export function loadTextlines(split: Split, indices?: ArrayLike<number>): RawSplit & { readonly texts: readonly string[] } {
  const size = TEXTLINES_SIZES[split];
  if (size === undefined) throw new DatasetError(`textlines: unknown split '${String(split)}' (train | test)`);
  const idx = indices ?? Int32Array.from({ length: size }, (_, i) => i);
  const p = TEXTLINES_PREPROCESS;
  const per = p.channels * p.height * p.width;
  const images = new Float32Array(idx.length * per);
  const texts = new Array<string>(idx.length);
  let scratch: Float64Array | undefined;
  for (let i = 0; i < idx.length; i++) {
    const s = textlineSample(split, idx[i]);
    scratch = preprocessInto(textlineImage(s), p, images, i * per, scratch);
    texts[i] = s.text;
  }
  return { images, labels: new Uint8Array(idx.length), count: idx.length, shape: [p.channels, p.height, p.width], classes: [], texts: Object.freeze(texts) };
}

/** Texts that occur in both splits (by construction none; the check that says so). */
export function textlinesOverlap(): string[] {
  return sharedTexts(TEXTLINES_SIZES, (split, i) => textlineSample(split, i).text);
}
