/**
 * CLE through ReLU6 on the pretrained MobileNetV2 (nsfwjs), per-tensor W8A8 with CLE + high-bias
 * absorption (`w8a8-pt-cle`), the three `cleRelu6` modes side by side:
 *  - replace: ReLU6 → ReLU, then equalize (AIMET) — changes the FP32 function;
 *  - skip:    ReLU6-joined pairs not equalized — function kept, less equalization;
 *  - clip:    equalize and clip channel i at 6/s_i — function kept, per-channel clamp bounds.
 * Calibrated on the photo set's calibration half, scored on the held-out half against the ORIGINAL
 * FP32 model (logits SQNR and top-1 agreement), as bench/ptq-ladder.ts scores MobileNetV2. Also:
 * what the preparation (BN fold + CLE + absorption, FP32) alone does to the function; the weight
 * range spread after CLE (max_i r_i ÷ min_i r_i over live output channels, r = max |W|); the
 * requant parameters on edge-npu (stored bits, and bits the engine moves DRAM → buffer → unit) and
 * how many of them are the per-channel bounds; whether mcu-npu (no per-channel bounds) accepts it.
 *
 *   npx tsx bench/cle-relu6.ts        → bench/results/cle-relu6.json
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec } from '../arch/spec.js';
import { loadPhotos } from '../nets/data/photos.js';
import type { Graph } from '../nets/graph.js';
import { loadModel } from '../nets/zoo/index.js';
import { foldBatchNorms } from '../quant/bnfold.js';
import { crossLayerEqualize } from '../quant/cle.js';
import { resolvePtqConfig, type CleRelu6Mode, type PtqFlags } from '../quant/config.js';
import { quantizeNetwork, runFp32Batched, type CalibData, type LayerStats } from '../quant/pipeline.js';
import { logitsTensor, quantizedOutputs, sqnrDb } from '../scenarios/debug.js';
import { simulate } from '../sim/engine/index.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/workload.js';
import { requantUnitProblem } from '../sim/requant-unit.js';
import { median, writeBenchResult } from './common.js';

const say = (s: string) => process.stderr.write(`${s}\n`);

/** fraction of rows whose arg-max agrees */
function agreement(ref: Float32Array, x: Float32Array, rows: number): number {
  const k = ref.length / rows;
  let same = 0;
  const arg = (a: Float32Array, r: number) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (a[r * k + j] > a[r * k + best]) best = j;
    return best;
  };
  for (let r = 0; r < rows; r++) if (arg(ref, r) === arg(x, r)) same++;
  return same / rows;
}

/** max_i r_i ÷ min_i r_i over output channels with r_i > 0 */
function spread(l: LayerStats): number {
  let hi = 0;
  let lo = Infinity;
  for (let c = 0; c < l.weightMax.length; c++) {
    const r = Math.max(Math.abs(l.weightMin[c]), Math.abs(l.weightMax[c]));
    if (r > 0) lo = Math.min(lo, r);
    hi = Math.max(hi, r);
  }
  return hi / lo;
}

interface Row {
  readonly label: string;
  readonly preset: string;
  readonly cleRelu6: CleRelu6Mode | null;
  readonly highBiasAbsorption: boolean;
  /** the prepared FP32 graph (BN fold + CLE + absorption) against the original FP32 */
  readonly preparedFp32: { readonly sqnrDb: number; readonly agreement: number } | null;
  /** the W8A8 integer model against the original FP32 */
  readonly quantized: { readonly sqnrDb: number; readonly agreement: number };
  readonly relu6Clipped: number;
  readonly weightSpread: { readonly median: number; readonly max: number; readonly maxDepthwise: number };
  readonly requantParams: { readonly storedBits: number; readonly boundBits: number; readonly dramToBufferBits: number; readonly bufferToUnitBits: number };
  readonly mcuNpu: string;
  readonly ptqSeconds: number;
}

export async function main(): Promise<Row[]> {
  const { graph } = loadModel('mobilenetv2');
  const calib: CalibData = loadPhotos('mobilenetv2', { split: 'calib' });
  const test = loadPhotos('mobilenetv2', { split: 'eval' });
  const logits = logitsTensor(graph);
  const asLogits = (g: Graph): Graph => ({ ...g, outputs: [{ name: logits, dtype: 'float32', shape: [] }] });
  const fp = runFp32Batched(asLogits(graph), test);
  const edge = presetSpec('edge-npu');
  const mcu = presetSpec('mcu-npu');
  const folded = foldBatchNorms(graph);
  const runs: { label: string; preset: string; mode: CleRelu6Mode | null; hba?: boolean }[] = [
    { label: 'W8A8 per-tensor (no CLE)', preset: 'w8a8-pt', mode: null },
    { label: 'W8A8 pt + CLE + BA, ReLU6 → ReLU (replace)', preset: 'w8a8-pt-cle', mode: 'replace' },
    { label: 'W8A8 pt + CLE + BA, ReLU6 pairs skipped (skip)', preset: 'w8a8-pt-cle', mode: 'skip' },
    { label: 'W8A8 pt + CLE + BA, per-channel clip 6/s_i (clip)', preset: 'w8a8-pt-cle', mode: 'clip' },
    // what absorption adds on top of the exact equalization
    { label: 'W8A8 pt + CLE (no BA), per-channel clip (clip)', preset: 'w8a8-pt-cle', mode: 'clip', hba: false },
  ];
  const rows: Row[] = [];
  for (const r of runs) {
    const flags: PtqFlags = { calibSamples: calib.count, ...(r.mode ? { cleRelu6: r.mode } : {}), ...(r.hba === false ? { highBiasAbsorption: false } : {}) };
    const cfg = resolvePtqConfig(r.preset, flags);
    let preparedFp32: Row['preparedFp32'] = null;
    let clipped = 0;
    if (r.mode) {
      const cle = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: cfg.highBiasAbsorption, relu6: r.mode, padding: cfg.hbaPadding });
      const prep = runFp32Batched(asLogits(cle.graph), test);
      preparedFp32 = { sqnrDb: sqnrDb(fp, prep), agreement: agreement(fp, prep, test.count) };
      clipped = cle.relu6Clipped.length;
    }
    const t0 = performance.now();
    const res = await quantizeNetwork(graph, calib, cfg);
    const ptqSeconds = (performance.now() - t0) / 1000;
    const lg = quantizedOutputs(res.net, graph, test, 250, logits);
    const wl = workloadFromQuantizedNetwork(res.net, [1, ...test.shape], edge);
    let storedBits = 0;
    let boundBits = 0;
    for (const l of wl.layers) {
      storedBits += l.requantParamBytes * 8;
      if (l.clampBoundBits && l.view) boundBits += l.view.N * l.view.groups * l.clampBoundBits;
    }
    const run = simulate(edge, wl);
    const spreads = res.stats.layers.map(spread);
    const dw = res.stats.layers.filter((l) => l.layer.includes('depthwise')).map(spread);
    const row: Row = {
      label: r.label,
      preset: r.preset,
      cleRelu6: r.mode,
      highBiasAbsorption: cfg.highBiasAbsorption,
      preparedFp32,
      quantized: { sqnrDb: sqnrDb(fp, lg), agreement: agreement(fp, lg, test.count) },
      relu6Clipped: clipped,
      weightSpread: { median: median(spreads), max: Math.max(...spreads), maxDepthwise: Math.max(...dw) },
      requantParams: {
        storedBits,
        boundBits,
        dramToBufferBits: run.totals.bits.dramBuffer.requantParams,
        bufferToUnitBits: run.totals.bits.bufferArray.requantParams,
      },
      mcuNpu: requantUnitProblem('mcu-npu', mcu, res.net) ?? 'runs',
      ptqSeconds,
    };
    rows.push(row);
    const prep = preparedFp32 ? `prepared FP32 ${preparedFp32.sqnrDb.toFixed(2)} dB, ${(preparedFp32.agreement * test.count).toFixed(0)}/${test.count}; ` : '';
    say(
      `${r.label.padEnd(52)} ${prep}W8A8 ${row.quantized.sqnrDb.toFixed(2)} dB, ${(row.quantized.agreement * test.count).toFixed(0)}/${test.count} agree; ` +
        `spread median ${row.weightSpread.median.toFixed(1)} max dw ${row.weightSpread.maxDepthwise.toFixed(1)}; requant bits ${storedBits} (bounds ${boundBits}); mcu-npu: ${row.mcuNpu === 'runs' ? 'runs' : 'refused'}`,
    );
  }
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'cle-relu6.json');
  writeBenchResult(file, `${JSON.stringify({ command: 'npx tsx bench/cle-relu6.ts', calibPhotos: calib.count, evalPhotos: test.count, rows }, null, 2)}\n`);
  say(`wrote ${file}`);
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
