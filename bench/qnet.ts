/**
 * Whole quantized networks: qloom's integer executor against onnxruntime-node running the
 * exported QOperator model of the same network (QLinearConv / QLinearMatMul, intraOpNumThreads 1),
 * on fmnist-cnn (1,000 Fashion-MNIST test images) and MobileNetV2 (the photo set's evaluation
 * half, repeated), both quantized w8a8-pc here and exported with quant/onnx/qexport.ts; qloom
 * runs the re-imported file, so both run the same model.
 *
 * Columns (images per second, median of alternating rounds, wall clock):
 *  - ORT at batch 1 and at the batch size below (the better is the peer);
 *  - qloom on one thread (scenarios/qexec-pool.ts QuantizedBatchRunner: layers prepared once,
 *    before the timing as the ORT session is created before it, and warmed on two batches like
 *    the session; float requant and a 32-bit wrapping accumulator: ORT's arithmetic), and with
 *    a pool of 2 worker threads across samples (started and warmed before the timing too).
 * Outputs are compared with ORT's (the float logits after DequantizeLinear, bit for bit): equal on
 * a CPU with VNNI; without it ORT's u8×s8 kernels (VPMADDUBSW) saturate pairs of products that
 * 8-bit weights reach, so its outputs leave the exact ones the ONNX operators define (qloom's;
 * the tests compare at 7-bit weights there). The results file records the CPU, its VNNI flag and
 * the load average.
 *
 *   npm run bench -- qnet        (or: npx tsx bench/qnet.ts)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { resolvePtqConfig } from '../quant/config.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import { evaluationSet, type EvalSet } from '../scenarios/datasets.js';
import { QuantizedBatchRunner } from '../scenarios/qexec-pool.js';
import { quantizeModel, writeQuantizedOnnx } from '../scenarios/quantize.js';
import { cpuFlags, median, writeBenchResult } from './common.js';

const ROUNDS = 3;

interface Case {
  model: string;
  data: 'fmnist' | 'photos';
  images: number;
  /** the set is repeated to this many images */
  repeat: number;
  batch: number;
}

const CASES: Case[] = [
  { model: 'fmnist-cnn', data: 'fmnist', images: 1000, repeat: 1, batch: 100 },
  { model: 'mobilenetv2', data: 'photos', images: 13, repeat: 2, batch: 7 },
];

function repeated(set: EvalSet, times: number): { images: Float32Array; count: number } {
  const images = new Float32Array(set.images.length * times);
  for (let i = 0; i < times; i++) images.set(set.images, i * set.images.length);
  return { images, count: set.count * times };
}

async function ortRun(sess: ort.InferenceSession, images: Float32Array, shape: readonly number[], count: number, batch: number): Promise<Float32Array> {
  const per = shape.reduce((a, b) => a * b, 1);
  const parts: Float32Array[] = [];
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const r = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', images.subarray(s * per, (s + n) * per), [n, ...shape]) });
    parts.push(r[sess.outputNames[0]].data as Float32Array);
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function main(): Promise<unknown> {
  const loadBefore = loadavg();
  const cpu = cpuFlags();
  const dir = mkdtempSync(join(tmpdir(), 'qloom-bench-qnet-'));
  const rows = [];
  try {
    for (const c of CASES) {
      const { net: qnet } = await quantizeModel(c.model, c.data, resolvePtqConfig('w8a8-pc'));
      const file = join(dir, `${c.model}.onnx`);
      writeQuantizedOnnx(qnet, file, 'qop');
      const net = loadQuantizedOnnx(file);
      const set = evaluationSet(c.data, c.model, c.images, 0);
      const { images, count } = repeated(set, c.repeat);
      const sess = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
      const exec = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };
      // prepared once, outside the timing, as the ORT session is: layers on this thread, and a pool of 2 workers
      const one1 = new QuantizedBatchRunner(net, set.shape, { exec, batch: c.batch });
      const two1 = new QuantizedBatchRunner(net, set.shape, { exec, batch: c.batch, workers: 2 });
      const warm = Math.min(count, 2 * c.batch);
      await ortRun(sess, images, set.shape, warm, c.batch);
      await one1.run(images, warm);
      await two1.run(images, warm);
      const t: Record<string, number[]> = { ort1: [], ortB: [], qloom1: [], qloom2: [] };
      let same = 0;
      let total = 0;
      for (let r = 0; r < ROUNDS; r++) {
        let t0 = performance.now();
        const want = await ortRun(sess, images, set.shape, count, 1);
        t.ort1.push(performance.now() - t0);
        t0 = performance.now();
        await ortRun(sess, images, set.shape, count, c.batch);
        t.ortB.push(performance.now() - t0);
        t0 = performance.now();
        const one = await one1.run(images, count);
        t.qloom1.push(performance.now() - t0);
        t0 = performance.now();
        const two = await two1.run(images, count);
        t.qloom2.push(performance.now() - t0);
        if (r === 0) {
          for (let i = 0; i < want.length; i++) if (one.outputs[i] === want[i] && two.outputs[i] === want[i]) same++;
          total = want.length;
        }
      }
      const ips = (k: string) => +(count / (median(t[k]) / 1000)).toFixed(1);
      const ortBest = Math.max(ips('ort1'), ips('ortB'));
      const row = {
        model: `${c.model} w8a8-pc (QOperator)`,
        images: count,
        batch: c.batch,
        imagesPerSecond: { ortBatch1: ips('ort1'), ortBatched: ips('ortB'), qloomOneThread: ips('qloom1'), qloomTwoWorkers: ips('qloom2') },
        /** qloom one thread ÷ the better ORT column (target ≥ 0.25) */
        oneThreadVsOrt: +(ips('qloom1') / ortBest).toFixed(3),
        twoWorkersVsOneThread: +(ips('qloom2') / ips('qloom1')).toFixed(2),
        target: 0.25,
        met: ips('qloom1') / ortBest >= 0.25,
        outputsEqualToOrt: `${same}/${total}`,
      };
      process.stdout.write(JSON.stringify(row) + '\n');
      rows.push(row);
      await sess.release();
      await two1.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const report = {
    bench: 'qnet',
    date: new Date().toISOString(),
    node: process.version,
    onnxruntime: ort.env.versions.common,
    cpu: cpu.model,
    vnni: cpu.flags.avx512_vnni || cpu.flags.avx_vnni,
    ...(!(cpu.flags.avx512_vnni || cpu.flags.avx_vnni) && {
      note: 'no VNNI: ORT computes QLinearConv with VPMADDUBSW, which saturates pairs of uint8 × int8 products to int16, so its outputs differ from the exact ones where 8-bit weights reach that (outputsEqualToOrt); with VNNI they are equal',
    }),
    loadAverage: { before: loadBefore, after: loadavg() },
    method: `median of ${ROUNDS} alternating rounds, wall clock, after one warm-up of two batches each (ORT session and qloom runners created before); ORT intraOpNumThreads 1 on the exported QOperator model; qloom float requant, 32-bit wrap`,
    rows,
  };
  writeBenchResult(join(dirname(fileURLToPath(import.meta.url)), 'results', 'qnet.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
