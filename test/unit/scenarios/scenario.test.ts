import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { configHash, expandPoints } from '../../../scenarios/points.js';
import { PTQ_PRESETS, ptqConfigOf } from '../../../scenarios/ptq.js';
import { builtinScenarios, loadScenario, validateScenario } from '../../../scenarios/scenario.js';
import { problemsOf } from '../../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-scenario-'));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const GOOD = {
  name: 't',
  seed: 7,
  runner: 'synthetic',
  networks: ['fmnist-cnn'],
  archs: ['edge-npu'],
  axes: { 'array.shape': ['8x8', '16x16'], 'memories.glb.capacity': ['64 KiB', '1 MiB'] },
  metrics: ['cycles'],
};

describe('scenario files', () => {
  it('a ptq entry with per-layer bits (layers:) resolves to the overrides; bad layer entries are named by path', () => {
    const s = validateScenario({ ...GOOD, axes: {}, ptq: [{ preset: 'w8a8-pc', label: 'fc1 at W4', layers: { fc1: { wBits: 4, weightRange: 'mse' } } }] });
    const [p] = expandPoints(s);
    expect(ptqConfigOf(p.config.ptq, p.config.seed).overrides).toEqual({ fc1: { wBits: 4, weightRange: 'mse' } });
    const problems = problemsOf(() => validateScenario({ ...GOOD, ptq: [{ preset: 'w8a8-pc', layers: { fc1: { wBits: 1, aBits: 4, colour: 'red' }, fc2: 3 } }] }));
    expect(problems.map((x) => x.path)).toEqual(expect.arrayContaining(['ptq[0].layers.fc1.wBits', 'ptq[0].layers.fc1.colour', 'ptq[0].layers.fc2']));
  });

  it('every built-in scenario exists and validates', () => {
    expect(builtinScenarios()).toEqual(['acc-width', 'diffusion-ptq', 'dse', 'formats', 'fusion', 'mapping', 'mixed-precision', 'pc-vs-pt', 'ptq-ablation', 'qat-vs-ptq', 'vit-ptq']);
    for (const name of builtinScenarios()) expect(loadScenario(name).name).toBe(name);
  });

  it('a QAT entry carries its preset\'s widths for the report and refuses PTQ fields, PTQ axes and unknown presets, all named', () => {
    const points = expandPoints(loadScenario('qat-vs-ptq'));
    const qat = points.find((p) => p.config.ptqLabel === 'W3A3 QAT')!.config.ptq;
    expect(qat.qat).toBe('w3a3-qat');
    expect([qat.weightBits, qat.actBits, qat.perChannel]).toEqual([3, 3, true]);
    // PTQ points do not name QAT (their hashes unchanged)
    expect(Object.keys(points.find((p) => p.config.ptqLabel === 'W3A3 PTQ')!.config.ptq)).not.toContain('qat');
    const bad = file(
      'qat-bad.yaml',
      'name: q\nseed: 1\nrunner: qloom\nnetworks: [fmnist-cnn]\nptq:\n  - { qat: w4a4-qat, weightBits: 3 }\n  - { qat: w4a4-qatt }\n  - { qat: w4a4-qat, trainSamples: 0 }\n  - { qat: w4a4-qat }\n  - { preset: w8a8-pc, trainSamples: 5 }\narchs: [edge-npu]\naxes:\n  ptq.actBits: [4, 8]\nmetrics: [accuracy]\n',
    );
    const problems = problemsOf(() => loadScenario(bad));
    expect(problems).toContainEqual({ path: 'ptq[0].weightBits', message: 'a QAT entry takes every setting from its QAT preset: give only qat, trainSamples and label' });
    expect(problems).toContainEqual(expect.objectContaining({ path: 'ptq[1].qat', message: expect.stringContaining('unknown QAT preset "w4a4-qatt" (did you mean "w4a4-qat"?)') }));
    expect(problems).toContainEqual({ path: 'ptq[2].trainSamples', message: 'expected a positive integer (training images), got 0' });
    expect(problems).toContainEqual({ path: 'ptq[4].trainSamples', message: 'training images are a QAT setting: give it beside qat: <QAT preset>' });
    expect(problems).toContainEqual(expect.objectContaining({ path: 'axes["ptq.actBits"]', message: expect.stringContaining('ptq[3] is a QAT entry (w4a4-qat)') }));
  });

  it("vit-ptq's unfolded post-LN arm reaches the PTQ config; the other arms' settings do not name it (their hashes unchanged)", () => {
    const points = expandPoints(loadScenario('vit-ptq'));
    const byLabel = new Map(points.map((p) => [p.config.ptqLabel, p.config.ptq]));
    const unfolded = byLabel.get('W6A6-postLN-per-channel')!;
    expect(unfolded.postLnPerChannel).toBe(true);
    expect(ptqConfigOf(unfolded, 0).postLnPerChannel).toBe(true);
    const uniform = byLabel.get('W6A6-uniform')!;
    expect(Object.keys(uniform)).not.toContain('postLnPerChannel');
    expect(ptqConfigOf(uniform, 0).postLnPerChannel).toBeUndefined();
    // a non-boolean is named with its path
    expect(problemsOf(() => validateScenario({ name: 'x', runner: 'qloom', networks: ['fmnist-vit'], archs: ['edge-npu'], ptq: [{ preset: 'w8a8-pc', splitConcat: 'yes' }] }))).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'ptq[0].splitConcat', message: 'expected true or false, got "yes"' })]),
    );
  });

  it('points are the cartesian product: dse = 3 networks × 4 shapes × 3 buffers × 3 bandwidths × 3 dataflows', () => {
    const points = expandPoints(loadScenario('dse'));
    expect(points.length).toEqual(3 * 4 * 3 * 3 * 3);
    expect(points.map((p) => p.index)).toEqual(points.map((_, i) => i));
    // the last axis varies fastest
    expect(points.slice(0, 3).map((p) => p.config.axes['array.dataflow'])).toEqual(['ws', 'os', 'is']);
    // axis values reach the normalized arch, units parsed: 64 KiB = 65536 B, 3.2 GB/s = 3.2e9 B/s
    const p0 = points[0].config;
    expect([p0.arch.array.rows, p0.arch.array.cols]).toEqual([8, 8]);
    expect(p0.arch.memories.glb!.capacityBytes).toEqual(65536);
    expect(p0.arch.memories.dram.bandwidthBytesPerS).toBe(3.2e9);
    expect(Object.isFrozen(p0) && Object.isFrozen(p0.arch)).toBe(true);
  });

  it('a file with three typos fails before any work with all three problems, each with its path', () => {
    const f = file(
      'typos.yaml',
      [
        'name: typos',
        'seed: 1',
        'runner: synthetic',
        'networks: [fmnist-cnnn]', // typo 1: unknown network
        'archs: [edge-npu]',
        'axes:',
        '  array.rowz: [8, 16]', // typo 2: bad axis path
        '  memories.glb.capacity: [64 KiB, 256 KiBB]', // typo 3: a unit that does not parse
        'metrics: [cycles]',
      ].join('\n'),
    );
    const problems = problemsOf(() => loadScenario(f));
    expect(problems.map((p) => p.path)).toEqual(['networks[0]', 'axes["array.rowz"]', 'axes["memories.glb.capacity"][1]']);
    expect(problems[0].message).toContain('did you mean "fmnist-cnn"');
    expect(problems[1].message).toContain('did you mean "array.rows"');
  });

  it('unknown arch preset, metric, PTQ preset and runner are all listed together', () => {
    const problems = problemsOf(() =>
      validateScenario({ ...GOOD, archs: ['edge-npux'], metrics: ['cycels'], ptq: ['w8a8-pcc'], runner: 'synthetc', seed: -1 }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(['archs[0]', 'metrics[0]', 'ptq[0]', 'runner', 'seed']);
  });

  it('an axis value that clashes with an arch is caught at load time (glb capacity on a split-buffer arch)', () => {
    const problems = problemsOf(() => validateScenario({ ...GOOD, archs: ['scalesim-default'] }));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.path.startsWith('archs[0]'))).toBe(true);
  });

  it('configHash is stable across loads and changes with the seed and with any axis value', () => {
    const a = expandPoints(validateScenario(GOOD));
    const b = expandPoints(validateScenario(structuredClone(GOOD)));
    expect(a.map((p) => p.configHash)).toEqual(b.map((p) => p.configHash));
    expect(new Set(a.map((p) => p.configHash)).size).toBe(4);
    const c = expandPoints(validateScenario({ ...GOOD, seed: 8 }));
    expect(c.map((p) => p.configHash).some((h) => a.some((p) => p.configHash === h))).toBe(false);
    expect(configHash(a[0].config)).toBe(a[0].configHash);
    expect(a[0].configHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ptq axes override the preset per point', () => {
    const s = validateScenario({ ...GOOD, axes: { 'ptq.weightBits': [8, 4] }, ptq: ['w8a8-pc'] });
    const pts = expandPoints(s);
    expect(pts.map((p) => [p.config.ptq.weightBits, p.config.ptq.perChannel])).toEqual([
      [8, true],
      [4, true],
    ]);
  });

  it('zero gating and DRAM activation compression are axes: the arch of each point carries its value (none = the preset as it is)', () => {
    const s = validateScenario({ ...GOOD, axes: { 'pe.zeroGating': ['none', 'operand'], 'memories.dram.activationCompression': ['none', 'rle'] } });
    const pts = expandPoints(s);
    expect(pts.map((p) => [p.config.arch.pe.zeroGating ?? 'none', p.config.arch.memories.dram.activationCompression ?? 'none'])).toEqual([
      ['none', 'none'],
      ['none', 'rle'],
      ['operand', 'none'],
      ['operand', 'rle'],
    ]);
    expect(new Set(pts.map((p) => p.configHash)).size).toBe(4);
    const problems = problemsOf(() => validateScenario({ ...GOOD, axes: { 'pe.zeroGating': ['weights'] } }));
    expect(problems.map((p) => p.path)).toEqual(['axes["pe.zeroGating"][0]']);
  });

  it('on-chip layer boundaries are an axis: none, greedy, optimal reach the arch of each point', () => {
    const pts = expandPoints(validateScenario({ ...GOOD, axes: { 'memories.onChipBoundaries': ['none', 'greedy', 'optimal'] } }));
    expect(pts.map((p) => p.config.arch.memories.onChipBoundaries ?? 'none')).toEqual(['none', 'greedy', 'optimal']);
    expect(new Set(pts.map((p) => p.configHash)).size).toBe(3);
    const problems = problemsOf(() => validateScenario({ ...GOOD, axes: { 'memories.onChipBoundaries': ['all'] } }));
    expect(problems.map((p) => p.path)).toEqual(['axes["memories.onChipBoundaries"][0]']);
  });

  it('ptq.cleRelu6 is a field and an axis (replace | skip | clip), reaching the PTQ config', () => {
    const s = validateScenario({ ...GOOD, axes: { 'ptq.cleRelu6': ['replace', 'clip'] }, ptq: ['w8a8-pt-cle'] });
    const pts = expandPoints(s);
    expect(pts.map((p) => p.config.ptq.cleRelu6)).toEqual(['replace', 'clip']);
    expect(ptqConfigOf(pts[1].config.ptq, 0).cleRelu6).toBe('clip');
    expect(PTQ_PRESETS['w8a8-pt-cle'].cleRelu6).toBe('replace');
    const problems = problemsOf(() => validateScenario({ ...GOOD, ptq: [{ preset: 'w8a8-pt-cle', cleRelu6: 'keep' }] }));
    expect(problems.map((p) => p.path)).toEqual(['ptq[0].cleRelu6']);
  });
});
