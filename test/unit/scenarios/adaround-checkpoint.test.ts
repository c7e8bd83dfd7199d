/**
 * AdaRound's per-layer checkpoint: a run interrupted after some layers resumes with them and ends
 * with the same integer weights as an uninterrupted run; a changed option never reuses a layer.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { quantizeNetwork, type AdaRoundStore } from '../../../quant/pipeline.js';
import type { QuantizedNetwork } from '../../../qnet/network.js';
import { adaroundStoreDir } from '../../../scenarios/quantize.js';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'qloom-ada-ckpt-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function weightCodes(net: QuantizedNetwork): number[][] {
  return net.layers.flatMap((l) => (l.kind === 'gemm' || l.kind === 'conv' ? [Array.from(l.weight.data)] : []));
}

/** counts what the wrapped store was asked; `failOnSave` throws at that save (a kill mid-run) */
function counting(inner: AdaRoundStore, failOnSave = Infinity) {
  const c = { hits: 0, misses: 0, saves: 0 };
  const store: AdaRoundStore = {
    load(k) {
      const v = inner.load(k);
      if (v) c.hits++;
      else c.misses++;
      return v;
    },
    save(k, codes) {
      if (c.saves + 1 >= failOnSave) throw new Error('killed');
      c.saves++;
      inner.save(k, codes);
    },
  };
  return { store, c };
}

describe('AdaRound checkpoint (mnist-mlp, 3 gemm layers)', () => {
  const { graph } = loadModel('mnist-mlp');
  const calib = loadDataset('mnist', 'train', { samples: 64, seed: 0 });
  const cfg = resolvePtqConfig('w4a8-pc-adaround', { calibSamples: 64, adaround: { iterations: 40 } });

  it('a run killed after its first layer resumes from it and ends with the uninterrupted weights', async () => {
    const reference = weightCodes((await quantizeNetwork(graph, calib, cfg)).net);
    const dir = fresh();
    const killed = counting(adaroundStoreDir(dir), 2);
    await expect(quantizeNetwork(graph, calib, cfg, { adaroundStore: killed.store })).rejects.toThrow('killed');
    expect(readdirSync(dir).filter((f) => f.endsWith('.i32'))).toHaveLength(1);
    const resumed = counting(adaroundStoreDir(dir));
    const net = (await quantizeNetwork(graph, calib, cfg, { adaroundStore: resumed.store })).net;
    expect(resumed.c).toEqual({ hits: 1, misses: 2, saves: 2 });
    expect(weightCodes(net)).toEqual(reference);
    // everything stored: a third run computes nothing
    const again = counting(adaroundStoreDir(dir));
    expect(weightCodes((await quantizeNetwork(graph, calib, cfg, { adaroundStore: again.store })).net)).toEqual(reference);
    expect(again.c).toEqual({ hits: 3, misses: 0, saves: 0 });
  });

  it('another seed or iteration count reuses no stored layer', async () => {
    const dir = fresh();
    await quantizeNetwork(graph, calib, cfg, { adaroundStore: adaroundStoreDir(dir) });
    for (const other of [
      resolvePtqConfig('w4a8-pc-adaround', { calibSamples: 64, adaround: { iterations: 40, seed: 7 } }),
      resolvePtqConfig('w4a8-pc-adaround', { calibSamples: 64, adaround: { iterations: 41 } }),
    ]) {
      const s = counting(adaroundStoreDir(dir));
      await quantizeNetwork(graph, calib, other, { adaroundStore: s.store });
      expect(s.c.hits).toBe(0);
    }
  });
});
