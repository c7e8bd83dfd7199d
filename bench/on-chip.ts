/**
 * Layer boundaries kept on chip (arch `memories.onChipBoundaries`; sim/engine/on-chip.ts): how much
 * DRAM traffic, energy and time an inference saves when a layer's output stays in the unified buffer
 * for the next layer — greedy (in order) and optimal (least DRAM traffic over the chain) against
 * every tensor through DRAM, and optimal with tile-band fusion (`memories.fusion: bands`: a
 * boundary may also be kept as a band of rows, both layers' weights resident) — on the
 * unified-buffer presets (mcu-npu 64 KiB, eyeriss-like 108 KiB,
 * edge-npu 256 KiB, tpu-like 24 MiB) for fmnist-cnn, MobileNetV2 (nsfwjs, 224²) and the fmnist ViT,
 * each PTQ'd w8a8-pc. Timing runs of one inference: none of these costs depends on the data (no
 * gating, no compression on these archs). Also the policy's own time per network.
 *
 *   npx tsx bench/on-chip.ts      (or: npm run bench -- on-chip)
 *
 * Results: bench/results/on-chip.json (per network and arch: DRAM bytes, energy, cycles per policy,
 * boundaries considered / kept / kept but also written).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec, validateArchSpec, type ArchSpec } from '../arch/spec.js';
import { resolvePtqConfig } from '../quant/config.js';
import { evaluationSet, type EvalDatasetName } from '../scenarios/datasets.js';
import { inputShapeFor } from '../scenarios/evaluate.js';
import { quantizeModel } from '../scenarios/quantize.js';
import { planOnChip, simulate, workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { writeBenchResult } from './common.js';

const say = (s: string): void => void process.stdout.write(`${s}\n`);

const POLICIES = ['none', 'greedy', 'optimal', 'optimal+bands'] as const;

function withPolicy(spec: ArchSpec, policy: (typeof POLICIES)[number]): ArchSpec {
  if (policy === 'none') return spec;
  const bands = policy === 'optimal+bands';
  return validateArchSpec({ ...spec, name: `${spec.name}+${policy}`, memories: { ...spec.memories, onChipBoundaries: bands ? 'optimal' : policy, ...(bands && { fusion: 'bands' }) } });
}

export async function main(): Promise<unknown> {
  const nets: { model: string; dataset: EvalDatasetName }[] = [
    { model: 'fmnist-cnn', dataset: 'fmnist' },
    { model: 'mobilenetv2', dataset: 'photos' },
    { model: 'fmnist-vit', dataset: 'fmnist' },
  ];
  const arches = ['mcu-npu', 'eyeriss-like', 'edge-npu', 'tpu-like'];
  const rows: unknown[] = [];
  const md: string[] = [
    '| network | arch (buffer) | boundaries kept: greedy / optimal of candidates | DRAM bytes / inference: none → greedy → optimal | energy µJ: none → greedy → optimal | cycles: none → optimal | optimal + bands: kept (as bands), DRAM bytes, energy µJ, cycles |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const n of nets) {
    const t0 = performance.now();
    for (const name of arches) {
      const base = presetSpec(name);
      // the ViT's Softmax / LayerNorm / GELU quantized for the arch's special-function unit, as `qloom run` does
      const { net } = await quantizeModel(n.model, n.dataset, resolvePtqConfig('w8a8-pc'), base.sfu ? { algorithms: base.sfu } : {});
      const per: Record<string, { dramBytes: number; energyPj: number; cycles: number; kept: number; keptAsBands: number; keptAndWritten: number; candidates: number; planMs: number }> = {};
      for (const policy of POLICIES) {
        const spec = withPolicy(base, policy);
        const w = workloadFromQuantizedNetwork(net, [1, ...inputShapeFor(net, evaluationSet(n.dataset, n.model, 1, 0).shape)], spec);
        const p0 = performance.now();
        const plan = policy === 'none' ? null : planOnChip(spec, w);
        const planMs = performance.now() - p0;
        const r = simulate(spec, w);
        const kept = plan?.boundaries.filter((b) => b.kept) ?? [];
        per[policy] = {
          dramBytes: r.totals.dramBytes.read + r.totals.dramBytes.write,
          energyPj: r.totals.energyPj,
          cycles: r.totals.cycles,
          kept: kept.length,
          keptAsBands: kept.filter((b) => b.mode === 'band').length,
          keptAndWritten: kept.filter((b) => b.alsoWritten).length,
          candidates: plan?.boundaries.length ?? 0,
          planMs,
        };
        // the plan's own sum of layer DRAM traffic is the run's
        if (plan && plan.dramBytes !== per[policy].dramBytes) throw new Error(`${n.model} on ${name} (${policy}): plan says ${plan.dramBytes} DRAM bytes, the run ${per[policy].dramBytes}`);
      }
      const cap = base.memories.glb!.capacityBytes;
      const kib = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
      const pct = (a: number, b: number) => `${a <= b ? '−' : '+'}${(Math.abs(1 - a / b) * 100).toFixed(1)} %`;
      const { none, greedy, optimal, 'optimal+bands': bands } = per as Record<(typeof POLICIES)[number], (typeof per)[string]>;
      md.push(
        `| ${n.model} | ${name} (${kib(cap)}) | ${greedy.kept} / ${optimal.kept} of ${optimal.candidates} (${optimal.keptAndWritten} also written) | ${kib(none.dramBytes)} → ${kib(greedy.dramBytes)} → ${kib(optimal.dramBytes)} (${pct(optimal.dramBytes, none.dramBytes)}) | ${(none.energyPj / 1e6).toFixed(2)} → ${(greedy.energyPj / 1e6).toFixed(2)} → ${(optimal.energyPj / 1e6).toFixed(2)} (${pct(optimal.energyPj, none.energyPj)}) | ${none.cycles.toLocaleString('en-US')} → ${optimal.cycles.toLocaleString('en-US')} (${pct(optimal.cycles, none.cycles)}) | ${bands.kept} (${bands.keptAsBands}), ${kib(bands.dramBytes)} (${pct(bands.dramBytes, none.dramBytes)}), ${(bands.energyPj / 1e6).toFixed(2)} (${pct(bands.energyPj, none.energyPj)}), ${bands.cycles.toLocaleString('en-US')} |`,
      );
      rows.push({ model: n.model, arch: name, bufferBytes: cap, preset: 'w8a8-pc', policies: per });
      say(md[md.length - 1]);
    }
    say(`  ${n.model}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const report = { bench: 'on-chip', date: new Date().toISOString(), node: process.version, rows, markdown: md.join('\n') };
  writeBenchResult(join(dirname(fileURLToPath(import.meta.url)), 'results', 'on-chip.json'), JSON.stringify(report, null, 2) + '\n');
  say(report.markdown);
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
