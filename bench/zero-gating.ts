/**
 * Zero operands on real data, and what gating them and compressing them on the DRAM interface
 * (bitmap, Eyeriss's run-length code; sim/kernels/compress.ts) saves: fmnist-cnn and the fmnist ViT on
 * Fashion-MNIST test images, MobileNetV2 (nsfwjs) on the photo set's evaluation half — each PTQ'd
 * w8a8-pc — run on edge-npu as it is, with activation gating (Eyeriss: a MAC whose activation is
 * zero does not toggle) and with operand gating (either operand zero). The counts come from the
 * integer activations the run computes (post-ReLU / post-GELU zeros, padding, zero weights), per
 * conv / gemm layer; an activation × activation matmul (the ViT's Q·Kᵀ and P·V) is not counted and
 * stays ungated. Cycles do not change (a gated MAC keeps its slot) — except with zero-vector skipping
 * (`pe.zeroSkipping`: all-zero streamed activation vectors dropped, the layer timed again). The saving is shown on the whole
 * inference and on the array's multiply-adds alone (+ detectors): memory traffic, which gating does
 * not touch, is most of an edge-npu inference's energy.
 *
 *   npx tsx bench/zero-gating.ts [--quick]      (or: npm run bench -- zero-gating)
 *
 * Results: bench/results/zero-gating.json (per network: MAC-weighted zero shares, energy per
 * inference per mode, per-layer zero fractions).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec, validateArchSpec, type ArchSpec } from '../arch/spec.js';
import { PRESETS } from '../arch/presets.js';
import { resolvePtqConfig } from '../quant/config.js';
import { evaluationSet, type EvalDatasetName } from '../scenarios/datasets.js';
import { evaluateOnArch } from '../scenarios/evaluate.js';
import { quantizeModel } from '../scenarios/quantize.js';
import { writeBenchResult } from './common.js';

interface Net {
  readonly model: string;
  readonly dataset: EvalDatasetName;
  readonly samples: number;
}

const say = (s: string): void => void process.stdout.write(`${s}\n`);

function compressed(format: 'bitmap' | 'rle'): ArchSpec {
  const base = PRESETS['edge-npu'];
  return validateArchSpec({ ...structuredClone(base), name: `edge-npu+${format}`, memories: { ...structuredClone(base.memories), dram: { ...structuredClone(base.memories.dram), activationCompression: format } } });
}

function skipping(): ArchSpec {
  const base = PRESETS['edge-npu'];
  return validateArchSpec({ ...structuredClone(base), name: 'edge-npu+skipping', pe: { ...structuredClone(base.pe), zeroSkipping: 'activation' } });
}

function gated(mode: 'activation' | 'operand'): ArchSpec {
  const base = PRESETS['edge-npu'];
  return validateArchSpec({ ...structuredClone(base), name: `edge-npu+${mode}-gating`, pe: { ...structuredClone(base.pe), zeroGating: mode } });
}

export async function main(): Promise<unknown> {
  const quick = process.argv.includes('--quick');
  const nets: Net[] = [
    { model: 'fmnist-cnn', dataset: 'fmnist', samples: quick ? 100 : 1000 },
    { model: 'mobilenetv2', dataset: 'photos', samples: 1000 },
    { model: 'fmnist-vit', dataset: 'fmnist', samples: quick ? 50 : 500 },
  ];
  const arches: [string, ArchSpec][] = [
    ['none', presetSpec('edge-npu')],
    ['activation', gated('activation')],
    ['operand', gated('operand')],
    ['bitmap', compressed('bitmap')],
    ['rle', compressed('rle')],
    ['skip', skipping()],
  ];
  const rows: unknown[] = [];
  const md: string[] = [
    '| network | samples | MACs counted / all | zero-activation MACs | zero-weight MACs | either | energy / inference, no gating (array share) | activation gating | operand gating |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const mdDram: string[] = [
    '| network | DRAM bytes / inference, raw | bitmap activations | run-length activations | energy raw → bitmap / run-length |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  const mdSkip: string[] = [
    '| network | all-zero streamed vectors (MAC-weighted) | cycles / inference → skipping | energy → skipping |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const n of nets) {
    const t0 = performance.now();
    const cfg = resolvePtqConfig('w8a8-pc');
    // the ViT's Softmax / LayerNorm / GELU quantized for edge-npu's special-function unit, as `qloom run` does
    const sfu = arches[0][1].sfu;
    const { net } = await quantizeModel(n.model, n.dataset, cfg, sfu ? { algorithms: sfu } : {});
    const set = evaluationSet(n.dataset, n.model, n.samples, 0);
    const energy: Record<string, number> = {};
    const dramBytes: Record<string, number> = {};
    /** the array's multiply-adds (label 'array') and the detectors, pJ per inference */
    const arrayPj: Record<string, number> = {};
    let layers: { name: string; macs: number; inputZeroFraction: number; weightZeroFraction: number; zeroActMacFraction: number; zeroWeightMacFraction: number; zeroOperandMacFraction: number }[] = [];
    let cycles = -1;
    let skipCycles = -1;
    let zeroVectorShare = 0;
    let allMacs = 0;
    let top1: number | null = null;
    for (const [mode, spec] of arches) {
      const ev = await evaluateOnArch(spec, net, set, { batch: n.dataset === 'photos' ? 4 : 100, zeros: true });
      energy[mode] = ev.result.totals.energyPj;
      dramBytes[mode] = ev.result.totals.dramBytes.read + ev.result.totals.dramBytes.write;
      arrayPj[mode] = (ev.result.energy.byLabel.array ?? 0) + (ev.result.energy.byLabel['zero-detect'] ?? 0);
      if (mode === 'skip') {
        // skipping is the one mode that changes cycles (timed again with the zero vectors dropped)
        skipCycles = ev.result.totals.cycles;
        const counted = ev.result.layers.filter((l) => l.zeros?.zeroVectorFraction !== undefined);
        const m = counted.reduce((a, l) => a + l.macs, 0);
        zeroVectorShare = m > 0 ? counted.reduce((a, l) => a + l.zeros!.zeroVectorFraction! * l.macs, 0) / m : 0;
      } else if (cycles < 0) cycles = ev.result.totals.cycles;
      else if (cycles !== ev.result.totals.cycles) throw new Error(`${n.model}: gating changed the cycles (${cycles} → ${ev.result.totals.cycles})`);
      if (ev.correct !== null) top1 = ev.correct / ev.samples;
      if (mode === 'none') {
        allMacs = ev.result.totals.macs;
        layers = ev.result.layers.filter((l) => l.zeros).map((l) => ({ name: l.name, macs: l.macs, ...l.zeros! }));
      }
    }
    const macs = layers.reduce((a, l) => a + l.macs, 0);
    const share = (k: 'zeroActMacFraction' | 'zeroWeightMacFraction' | 'zeroOperandMacFraction') => layers.reduce((a, l) => a + l[k] * l.macs, 0) / macs;
    const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
    const uj = (pj: number) => `${(pj / 1e6).toFixed(2)} µJ`;
    const saved = (mode: string) => `${uj(energy[mode])} (−${pct(1 - energy[mode] / energy.none)}; array −${pct(1 - arrayPj[mode] / arrayPj.none)})`;
    md.push(`| ${n.model} | ${set.count} | ${(macs / 1e6).toFixed(2)} M / ${(allMacs / 1e6).toFixed(2)} M | ${pct(share('zeroActMacFraction'))} | ${pct(share('zeroWeightMacFraction'))} | ${pct(share('zeroOperandMacFraction'))} | ${uj(energy.none)} (${pct(arrayPj.none / energy.none)}) | ${saved('activation')} | ${saved('operand')} |`);
    const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
    const less = (mode: string) => `${kb(dramBytes[mode])} (−${pct(1 - dramBytes[mode] / dramBytes.none)})`;
    mdDram.push(`| ${n.model} | ${kb(dramBytes.none)} | ${less('bitmap')} | ${less('rle')} | ${uj(energy.none)} → ${uj(energy.bitmap)} / ${uj(energy.rle)} |`);
    mdSkip.push(`| ${n.model} | ${pct(zeroVectorShare)} | ${cycles.toLocaleString('en-US')} → ${skipCycles.toLocaleString('en-US')} (−${pct(1 - skipCycles / cycles)}) | ${uj(energy.none)} → ${uj(energy.skip)} |`);
    rows.push({ model: n.model, skipCycles, zeroVectorShare, dramBytes, dataset: n.dataset, samples: set.count, preset: 'w8a8-pc', arch: 'edge-npu', top1, cycles, macsCounted: macs, macsAll: allMacs, zeroActMacShare: share('zeroActMacFraction'), zeroWeightMacShare: share('zeroWeightMacFraction'), zeroOperandMacShare: share('zeroOperandMacFraction'), energyPj: energy, arrayPj, layers });
    say(`${md[md.length - 1]}   (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const report = { bench: 'zero-gating', date: new Date().toISOString(), node: process.version, rows, markdown: md.join('\n') + '\n\n' + mdDram.join('\n') + '\n\n' + mdSkip.join('\n') };
  writeBenchResult(join(dirname(fileURLToPath(import.meta.url)), 'results', 'zero-gating.json'), JSON.stringify(report, null, 2) + '\n');
  say(report.markdown);
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
