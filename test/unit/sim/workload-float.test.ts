/**
 * Float layers in a workload: a float element op whose first input is a float constant (PP-OCR's
 * MobileOne blocks multiply by a learned per-channel scale, `Mul(w, x)`) takes the broadcast shape
 * of its inputs — its bytes are the activation's, not the constant's.
 */
import { describe, expect, it } from 'vitest';
import { presetSpec } from '../../../arch/spec.js';
import type { QuantizedNetwork } from '../../../qnet/network.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';

describe('workload of float layers', () => {
  it('a constant-first float Mul gets the broadcast shape of its inputs', () => {
    const C = 6;
    const H = 4;
    const net: QuantizedNetwork = {
      name: 'float-mul',
      inputs: [{ name: 'x', dtype: 'float32', shape: [1, C, H, H] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [1, C, H, H] }],
      tensors: new Map(),
      floatConstants: new Map([['w', { dtype: 'float32', shape: [1, C, 1, 1], data: new Float32Array(C).fill(0.5) }]]),
      layers: [{ kind: 'float', name: 'mul', inputs: ['w', 'x'], output: 'y', node: { name: 'mul', op: 'Mul', inputs: ['w', 'x'], outputs: ['y'], attrs: {} } }],
    };
    const wl = workloadFromQuantizedNetwork(net, [1, C, H, H], presetSpec('edge-npu'));
    // 4-byte floats: the output is C·H·H elements (the constant alone would be C)
    expect(wl.layers[0].ofmapBytes).toBe(4 * C * H * H);
  });
});
