/**
 * Where a mapping changes *numbers*, on real data: every conv / gemm layer of fmnist-cnn (w8a8-pc,
 * Fashion-MNIST test images) on edge-npu's hierarchy (arch/preset-hierarchy.ts), run in the order of
 * today's fixed weight-stationary schedule (sim/mapping/fixed-schedule.ts) and in the order of the
 * mapper's lowest-energy mapping (seed 1), with the partial-sum registers where each mapping keeps
 * Outputs narrowed to 16 and 20 bits (saturating; the accumulator 32 bits) — sim/mapping/mapped-kernel.ts.
 * Per layer: the outputs that differ from the exact sums and the overflows at each register, for
 * both mappings. The layer's real integer operands (codes minus zero points; padding 0) come from
 * qloom's executor on the same network.
 *
 *   npx tsx bench/mapping-numbers.ts [--images N] [--psum-bits B,B…] [--budget N]
 *
 * Results: bench/results/mapping-numbers.json.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { presetSpec } from '../arch/spec.js';
import { runMapped, type MappedAccumulators } from '../sim/mapping/mapped-kernel.js';
import { searchMappings } from '../sim/mapping/mapper.js';
import { evaluateTimeloop } from '../sim/mapping/timeloop-model.js';
import { convDimsOfView, fixedScheduleSpec, presetConstraints } from '../sim/mapping/fixed-schedule.js';
import type { TimeloopSpec } from '../arch/timeloop.js';
import { resolvePtqConfig } from '../quant/config.js';
import { evaluationSet } from '../scenarios/datasets.js';
import { quantizeModel } from '../scenarios/quantize.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import type { Tensor } from '../nets/graph.js';
import { convOperands } from '../scenarios/map-model.js';
import { writeBenchResult } from './common.js';

const say = (s: string): void => void process.stdout.write(`${s}\n`);

export async function main(): Promise<unknown> {
  const { values } = parseArgs({ options: { images: { type: 'string', default: '4' }, 'psum-bits': { type: 'string', default: '16,20' }, budget: { type: 'string', default: '2000' } } });
  const images = Number(values.images);
  const widths = values['psum-bits'].split(',').map(Number);
  const budget = Number(values.budget);
  const arch = presetSpec('edge-npu');
  const { net } = await quantizeModel('fmnist-cnn', 'fmnist', resolvePtqConfig('w8a8-pc'));
  const set = evaluationSet('fmnist', 'fmnist-cnn', images, 0);
  // every layer's integer output, by tensor name (the conv inputs among them)
  const codes = new Map<string, Tensor>();
  // exact integer layers (a wide accumulator): the operands each layer really receives
  const ex = new QuantizedExecutor(net, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' }, onLayer: (layer, out) => void codes.set(layer.output, out) });
  const input = net.inputs[0];
  ex.run({ [input.name]: { dtype: 'float32', shape: [images, ...set.shape], data: set.images.subarray(0, images * set.shape.reduce((a, b) => a * b, 1)) } as Tensor });
  const views = new Map(workloadFromQuantizedNetwork(net, [1, ...set.shape], arch).layers.filter((l) => l.view).map((l) => [l.name, l.view!]));
  const rows: unknown[] = [];
  const md = [
    `fmnist-cnn w8a8-pc on edge-npu's hierarchy, ${images} test images, partial-sum registers saturating at ${widths.join(' and ')} bits, accumulator 32-bit; mapper: energy, budget ${budget}, seed 1`,
    '',
    `| layer | MACs | searched ÷ fixed energy | ${widths.map((b) => `${b}-bit registers, fixed schedule: outputs ≠ exact, register / accumulator overflows | searched mapping`).join(' | ')} |`,
    `| --- | ---: | ---: | ${widths.map(() => '---: | ---:').join(' | ')} |`,
  ];
  for (const l of net.layers) {
    if (l.kind !== 'conv' && l.kind !== 'gemm') continue;
    const view = views.get(l.name);
    if (!view) continue;
    const dims = { ...convDimsOfView(view), N: images };
    const fixed = fixedScheduleSpec(arch, dims);
    // from the fixed schedule: the searched mapping never costs more energy
    const searched = searchMappings(fixed.spec, presetConstraints(fixed.spec), { objective: 'energy', budget, seed: 1, start: fixed.spec });
    const xt = codes.get(l.inputs[0]);
    const zx = net.tensors.get(l.inputs[0])!.q.zeroPoint[0];
    const xData = xt ? Int32Array.from(xt.data as ArrayLike<number>) : new Int32Array(0);
    const ops = convOperands(fixed.spec, l, xData, xt!.shape, zx, images);
    const exact = runMapped(fixed.spec, ops, { psumBits: 53, accBits: 53, policy: 'ideal' });
    const run = (spec: TimeloopSpec, psumBits: number) => {
      const acc: MappedAccumulators = { psumBits, accBits: 32, policy: 'saturate' };
      const r = runMapped(spec, ops, acc);
      let wrong = 0;
      for (let i = 0; i < r.outputs.length; i++) if (r.outputs[i] !== exact.outputs[i]) wrong++;
      return { wrongOutputs: wrong, outputs: r.outputs.length, psumEvents: r.psumEvents, accEvents: r.accEvents, updates: r.updates };
    };
    const byWidth = widths.map((b) => ({ psumBits: b, fixed: run(fixed.spec, b), searched: run(searched.spec, b) }));
    const fixedPj = evaluateTimeloop(fixed.spec).energyPj;
    const row = { layer: l.name, macs: dims.R * dims.S * dims.P * dims.Q * dims.C * dims.M * dims.N * dims.G, energyRatio: searched.result.energyPj / fixedPj, byWidth };
    rows.push(row);
    const cell = (x: ReturnType<typeof run>) => `${x.wrongOutputs.toLocaleString('en-US')} of ${x.outputs.toLocaleString('en-US')}; ${x.psumEvents.toLocaleString('en-US')} / ${x.accEvents.toLocaleString('en-US')}`;
    md.push(`| ${l.name} | ${row.macs.toLocaleString('en-US')} | ${row.energyRatio.toFixed(3)} | ${byWidth.map((w) => `${cell(w.fixed)} | ${cell(w.searched)}`).join(' | ')} |`);
    say(md[md.length - 1]);
  }
  const report = { bench: 'mapping-numbers', date: new Date().toISOString(), node: process.version, images, psumBits: widths, budget, seed: 1, rows, markdown: md.join('\n') };
  writeBenchResult(join(dirname(fileURLToPath(import.meta.url)), 'results', 'mapping-numbers.json'), JSON.stringify(report, null, 2) + '\n');
  say(report.markdown);
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
