/**
 * Attribute values no executor could run are refused at import (ONNX and tfjs), where they are:
 * one ModelError naming the file, the node and every offending attribute at once — not a misleading message
 * about a later node or a RangeError at run time. An empty file says it is empty.
 */
import { describe, expect, it } from 'vitest';
import type { Node, Tensor } from '../../../nets/graph.js';
import { importOnnx } from '../../../nets/onnx/import.js';
import { nodeOutputShapes } from '../../../nets/shapes.js';
import type { TfjsArtifacts } from '../../../nets/tfjs/artifacts.js';
import { tfjsToGraph } from '../../../nets/tfjs/import.js';
import { modelErrorOf } from '../../helpers/errors.js';
import { buildModel, f32, type BAttr } from '../../helpers/onnx-build.js';

/** x [1, 4, 8, 8] → op → Relu → y, with a [oc, 4/group, 3, 3] weight for Conv */
function model(op: 'Conv' | 'MaxPool' | 'AveragePool', attrs: Record<string, BAttr>, weight: number[] = [2, 4, 3, 3]): Uint8Array {
  const inits: Record<string, Tensor> = op === 'Conv' ? { w: f32(weight, new Array(weight.reduce((a, b) => a * b, 1)).fill(0.1)) } : {};
  return buildModel({
    opset: 13,
    inputs: [{ name: 'x', shape: [1, 4, 8, 8] }],
    outputs: [{ name: 'y' }],
    inits,
    nodes: [
      { name: 'win', op, inputs: op === 'Conv' ? ['x', 'w'] : ['x'], outputs: ['c'], attrs: op === 'Conv' ? attrs : { kernel_shape: [2, 2], ...attrs } },
      { name: 'act', op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
  });
}

describe('importOnnx: invalid window attributes are the problem of the node that has them', () => {
  it('stride 0 on a Conv: the file, the node and the attribute, not the next node', () => {
    const e = modelErrorOf(() => importOnnx(model('Conv', { strides: [0, 0] }), 'stride0.onnx'));
    expect(e.file).toBe('stride0.onnx');
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatchObject({ node: 'win', op: 'Conv' });
    expect(e.message).toContain('stride0.onnx');
    expect(e.message).toContain("'strides'");
    expect(e.message).not.toContain("'act'");
  });

  it('lists every invalid attribute at once: zero kernel, negative pads, dilation 0, group not dividing the channels', () => {
    const e = modelErrorOf(() => importOnnx(model('Conv', { kernel_shape: [0, 3], pads: [-1, 0, 0, 0], dilations: [1, 0], group: 3 }, [2, 4, 3, 3]), 'bad.onnx'));
    const text = e.problems.map((p) => p.message).join('\n');
    for (const attr of ["'kernel_shape'", "'pads'", "'dilations'", "'group'"]) expect(text).toContain(attr);
    expect(e.problems.every((p) => p.node === 'win' && p.op === 'Conv')).toBe(true);
    // group 3 divides neither the 4 input nor the 2 output channels
    expect(e.problems.filter((p) => p.message.includes("'group'"))).toHaveLength(2);
    expect(modelErrorOf(() => importOnnx(model('Conv', { group: 0 }))).message).toContain("'group'");
  });

  it('pools too: stride 0, kernel 0, negative pads, MaxPool dilation 0', () => {
    expect(modelErrorOf(() => importOnnx(model('MaxPool', { strides: [1, 0] }))).message).toContain("'strides'");
    expect(modelErrorOf(() => importOnnx(model('AveragePool', { kernel_shape: [2, 0] }))).message).toContain("'kernel_shape'");
    expect(modelErrorOf(() => importOnnx(model('AveragePool', { pads: [0, 0, -1, 0] }))).message).toContain("'pads'");
    expect(modelErrorOf(() => importOnnx(model('MaxPool', { dilations: [0, 1] }))).message).toContain("'dilations'");
  });

  it('valid attributes still import (SAME auto_pad, stride 2, grouped Conv)', () => {
    const g = importOnnx(model('Conv', { strides: [2, 2], auto_pad: 'SAME_UPPER', group: 2 }, [2, 2, 3, 3]));
    expect(g.outputs[0].shape).toEqual([1, 2, 4, 4]);
    expect(importOnnx(model('MaxPool', { strides: [2, 2] })).outputs[0].shape).toEqual([1, 4, 4, 4]);
  });

  it('a graph built in code with stride 0 fails shape inference with a ModelError, not a RangeError', () => {
    const node: Node = { name: 'c', op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { kernel_shape: [3, 3], strides: [0, 1], group: 1 } };
    expect(modelErrorOf(() => nodeOutputShapes(node, [[1, 4, 8, 8], [2, 4, 3, 3]])).message).toContain('strides');
  });
});

describe('importOnnx: files that are not ONNX models', () => {
  it('an empty file says it is empty, not an ONNX model', () => {
    const e = modelErrorOf(() => importOnnx(new Uint8Array(0), 'empty.onnx'));
    expect(e.message).toContain('empty.onnx');
    expect(e.message).toContain('empty');
    expect(e.message).toContain('not an ONNX model');
  });

  it('bytes that decode to a message without graph or opset say they are not an ONNX model', () => {
    // field 1 (ir_version) only: a valid protobuf, nothing of a model
    expect(modelErrorOf(() => importOnnx(Uint8Array.from([0x08, 0x07]), 'x.onnx')).message).toContain('not an ONNX model');
  });
});

describe('tfjsToGraph: invalid window attributes', () => {
  it('a pooling layer with stride 0 is refused at import, naming the file and the layer', () => {
    const layers = [
      { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 4, 4, 2] }, inbound_nodes: [] },
      { class_name: 'MaxPooling2D', name: 'pool', config: { name: 'pool', pool_size: [2, 2], strides: [0, 1] }, inbound_nodes: [[['in', 0, 0, {}]]] },
    ];
    const topo = { class_name: 'Model', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['pool', 0, 0]] } };
    const art: TfjsArtifacts = { format: 'layers-model', modelJson: { modelTopology: topo }, modelTopology: topo, weightSpecs: [], weightData: new ArrayBuffer(0), files: ['m.json'] };
    const e = modelErrorOf(() => tfjsToGraph(art));
    expect(e.file).toBe('m.json');
    expect(e.problems).toEqual([expect.objectContaining({ node: 'pool', op: 'MaxPool' })]);
    expect(e.message).toContain('strides');
  });
});
