/** The CLI as a user runs it: `node cli/qloom.js …` (what `npx qloom` runs), exit codes and output. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom, ROOT } from '../helpers/cli.js';


describe('qloom CLI', () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await qloom('--help');
    expect(r.code).toBe(0);
    for (const c of ['inspect', 'eval', 'models']) expect(r.stdout).toContain(c);
  });

  it('an unknown command exits 2 and says so', async () => {
    const r = await qloom('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('inspect --json: per-layer MACs add up to totalMacs, and conv MACs follow from the shapes', async () => {
    const r = await qloom('inspect', 'fmnist-cnn', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      layers: { op: string; inputShape: number[]; outputShape: number[]; macs: number; params: number }[];
      totalMacs: number;
      totalParams: number;
    };
    expect(doc.layers.reduce((s, l) => s + l.macs, 0)).toBe(doc.totalMacs);
    expect(doc.totalMacs).toBeGreaterThan(0);
    const first = doc.layers.find((l) => l.op === 'Conv')!;
    // hand count for a 1-channel-input conv: OC·OH·OW·KH·KW, weights OC·KH·KW (+ OC bias)
    const [, oc, oh, ow] = first.outputShape;
    const k2 = first.macs / (oc * oh * ow);
    expect(Number.isInteger(Math.sqrt(k2))).toBe(true);
    expect([oc * k2, oc * k2 + oc]).toContain(first.params);
  });

  it('inspect of a missing file names it and exits 1', async () => {
    const r = await qloom('inspect', '/nonexistent/model.onnx');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/model.onnx');
  });

  it('inspect of a truncated ONNX file names the file and exits 1, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-e2e-'));
    const bytes = readFileSync(join(ROOT, 'nets/zoo/fmnist-cnn.onnx'));
    const bad = join(dir, 'truncated.onnx');
    writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length / 3)));
    const r = await qloom('inspect', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('truncated.onnx');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('eval rejects an unknown dataset with exit 2', async () => {
    const r = await qloom('eval', 'fmnist-cnn', '--data', 'imagenet');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--data must be one of');
  });

  it('eval --json on a seeded subset gives {top1, samples}', async () => {
    const r = await qloom('eval', 'fmnist-cnn', '--data', 'fmnist', '--samples', '200', '--seed', '3', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { top1: number; samples: number; correct: number };
    expect(doc.samples).toBe(200);
    expect(doc.top1).toBe(doc.correct / 200);
    expect(doc.top1).toBeGreaterThan(0.8);
  });

  it('eval reproduces the manifest accuracy of a bundled model exactly (full test split)', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'nets/zoo/manifest.json'), 'utf8')) as { models: Record<string, { top1: number; samples: number; dataset: string }> };
    const m = manifest.models['mnist-mlp'];
    const r = await qloom('eval', 'mnist-mlp', '--data', m.dataset, '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { top1: number; samples: number };
    expect(doc.samples).toBe(m.samples);
    expect(doc.top1).toBe(m.top1);
  });

  it('eval --data photos prints the top-1 class of each photo', async () => {
    const r = await qloom('eval', 'mobilenetv2', '--data', 'photos', '--samples', '3', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { photos: { file: string; class: string; probability: number }[] };
    expect(doc.photos).toHaveLength(3);
    for (const p of doc.photos) {
      expect(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']).toContain(p.class);
      expect(p.probability).toBeGreaterThan(0.2);
    }
  });
});
