/**
 * Binding a model's dynamic input dims at import (ImportOptions.inputShapes, loadModel's width):
 * the shape computations that read them fold to constants, and a binding that contradicts the file
 * is refused with every problem named.
 */
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../../nets/fp32.js';
import type { Tensor } from '../../../nets/graph.js';
import { importOnnx } from '../../../nets/onnx/import.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { modelErrorOf } from '../../helpers/errors.js';
import { buildModel, i64 } from '../../helpers/onnx-build.js';

/** x [N, 2, W] → Reshape to [N, W, 2]… via Shape/Gather/Concat on the dynamic width, as p2o writes it */
function widthModel(): Uint8Array {
  return buildModel({
    opset: 9,
    inputs: [{ name: 'x', shape: ['n', 2, 'w'] }],
    outputs: [{ name: 'y' }],
    inits: { zero: i64([0]), two: i64([2]), idx: i64([2], true) },
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Gather', inputs: ['s', 'idx'], outputs: ['w'] },
      { op: 'Unsqueeze', inputs: ['w'], outputs: ['w1'], attrs: { axes: [0] } },
      { op: 'Concat', inputs: ['zero', 'w1', 'two'], outputs: ['target'], attrs: { axis: 0 } },
      { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 2, 1] } },
      { op: 'Reshape', inputs: ['t', 'target'], outputs: ['y'] },
    ],
  });
}

describe('ImportOptions.inputShapes', () => {
  it('a dynamic width left dynamic cannot fold into a Reshape target; bound, it does', () => {
    const err = modelErrorOf(() => importOnnx(widthModel()));
    expect(err.problems).toMatchObject([{ op: 'Reshape', message: expect.stringContaining("dim 2 of 'x'") }]);
    const g = importOnnx(widthModel(), undefined, { inputShapes: new Map([['x', [-1, 2, 5]]]) });
    expect(g.inputs[0].shape).toEqual([-1, 2, 5]);
    expect(g.nodes.find((n) => n.op === 'Reshape')?.attrs.shape).toEqual([0, 5, 2]);
    expect(g.outputs[0].shape).toEqual([-1, 5, 2]);
    const x: Tensor = { dtype: 'float32', shape: [3, 2, 5], data: Float32Array.from({ length: 30 }, (_, i) => i) };
    const y = runFp32(g, { x }).y;
    expect(y.shape).toEqual([3, 5, 2]);
    // element (n, w, c) is x[n, c, w]
    expect((y.data as Float32Array)[1 * 10 + 3 * 2 + 1]).toBe(1 * 10 + 1 * 5 + 3);
  });

  it('refuses bindings that contradict the file, naming each', () => {
    const err = modelErrorOf(() => importOnnx(widthModel(), 'm.onnx', { inputShapes: new Map([['x', [1, 3, 5]], ['z', [1]]]) }));
    const messages = err.problems.map((p) => p.message);
    expect(messages).toContainEqual(expect.stringContaining("graph input 'x' has shape [-1,2,-1] in the file; cannot bind it to [1,3,5]: dim 1 is fixed to 2"));
    expect(messages).toContainEqual(expect.stringContaining("input shape given for 'z', which is not a graph input (inputs: x)"));
    const rank = modelErrorOf(() => importOnnx(widthModel(), 'm.onnx', { inputShapes: new Map([['x', [1, 2]]]) }));
    expect(rank.problems[0].message).toContain('rank 2 ≠ 3');
    const zero = modelErrorOf(() => importOnnx(widthModel(), 'm.onnx', { inputShapes: new Map([['x', [1, 2, 0]]]) }));
    expect(zero.problems[0].message).toContain('positive integers or -1');
  });
});

describe('loadModel width', () => {
  it('ppocr-rec: 320 by default, any width given; other models refuse a width', () => {
    expect(loadModel('ppocr-rec').graph.inputs[0].shape).toEqual([-1, 3, 48, 320]);
    expect(loadModel('ppocr-rec', { width: 96 }).graph.outputs[0].shape).toEqual([-1, 12, 6625]);
    expect(modelErrorOf(() => loadModel('ppocr-rec', { width: 0 })).message).toContain('width must be a positive integer');
    expect(modelErrorOf(() => loadModel('fmnist-cnn', { width: 96 })).message).toContain('fixed input size');
  });
});
