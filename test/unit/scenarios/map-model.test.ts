/**
 * The operands `qloom map` runs (scenarios/map-model.ts convOperands) are the layer's own: for every
 * conv / dense layer of fmnist-cnn on two test images, the exact sums of the fixed schedule's
 * mapping plus the bias equal the accumulators qloom's integer executor computes (itself bit-exact
 * against ONNX Runtime's QLinearConv / QLinearMatMul), output for output.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { presetSpec } from '../../../arch/spec.js';
import type { Tensor } from '../../../nets/graph.js';
import type { QLinearLayer } from '../../../qnet/network.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { evaluationSet } from '../../../scenarios/datasets.js';
import { convOperands } from '../../../scenarios/map-model.js';
import { quantizeModel } from '../../../scenarios/quantize.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { convDimsOfView, fixedScheduleSpec } from '../../../sim/mapping/fixed-schedule.js';
import { runMapped } from '../../../sim/mapping/mapped-kernel.js';
import { QuantizedExecutor } from '../../../sim/qexec.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';

describe.skipIf(!existsSync(FMNIST))('qloom map\'s operands', () => {
  it('exact sums in the fixed schedule\'s order + bias = the executor\'s accumulators, every linear layer of fmnist-cnn', async () => {
    const { net } = await quantizeModel('fmnist-cnn', 'fmnist', resolvePtqConfig('w8a8-pc', { calibSamples: 32, seed: 0 }));
    const arch = presetSpec('edge-npu');
    const images = 2;
    const set = evaluationSet('fmnist', 'fmnist-cnn', images, 0);
    const codes = new Map<string, Tensor>();
    const accs = new Map<string, Float64Array>();
    const ex = new QuantizedExecutor(net, {
      requant: { mode: 'float' },
      acc: { bits: 32, policy: 'wrap' },
      keepAccumulators: true,
      onLayer: (layer, out, info) => {
        codes.set(layer.output, out);
        if (info.acc) accs.set(layer.name, Float64Array.from(info.acc));
      },
    });
    ex.run({ [net.inputs[0].name]: { dtype: 'float32', shape: [images, ...set.shape], data: set.images.subarray(0, images * 784) } as Tensor });
    const views = new Map(workloadFromQuantizedNetwork(net, [1, ...set.shape], arch).layers.filter((l) => l.view).map((l) => [l.name, l.view!]));
    let checked = 0;
    for (const l of net.layers) {
      if (l.kind !== 'conv' && l.kind !== 'gemm') continue;
      const ql = l as QLinearLayer;
      const fixed = fixedScheduleSpec(arch, { ...convDimsOfView(views.get(l.name)!), N: images });
      const xt = codes.get(l.inputs[0])!;
      const ops = convOperands(fixed.spec, ql, Int32Array.from(xt.data as ArrayLike<number>), xt.shape, net.tensors.get(l.inputs[0])!.q.zeroPoint[0], images);
      const out = runMapped(fixed.spec, ops, { psumBits: 53, accBits: 53, policy: 'ideal' }).outputs;
      // Outputs [N][G=1][M (padded)][P][Q] against the executor's [N][M][P][Q] (conv) or [N][M] (dense)
      const want = accs.get(l.name)!;
      const M = ql.weight.shape[0];
      const Mp = fixed.padding.padded.M;
      const PQ = want.length / (images * M);
      const got: number[] = [];
      for (let n = 0; n < images; n++) for (let m = 0; m < M; m++) for (let i = 0; i < PQ; i++) got.push(out[(n * Mp + m) * PQ + i] + (ql.bias ? ql.bias[m] : 0));
      expect({ layer: l.name, acc: got }).toEqual({ layer: l.name, acc: [...want] });
      checked++;
    }
    expect(checked).toBe(5);
  }, 120_000);
});
