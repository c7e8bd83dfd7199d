/** Debian libonnx-testdata: ONNX's own conformance suite (models, inputs, expected outputs). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../../nets/errors.js';
import type { Graph, Tensor } from '../../nets/graph.js';
import { loadOnnx } from '../../nets/onnx/import.js';
import { ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { readTensorPb } from '../../nets/onnx/tensor.js';

export const TESTDATA = '/usr/share/libonnx-testdata/data';
export const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];

/** Every suite test directory that has a model and a first data set, sorted. */
export function conformanceDirs(): { test: string; dir: string }[] {
  const out: { test: string; dir: string }[] = [];
  for (const suite of SUITES) {
    if (!existsSync(join(TESTDATA, suite))) continue;
    for (const test of readdirSync(join(TESTDATA, suite)).sort()) {
      const dir = join(TESTDATA, suite, test);
      if (existsSync(join(dir, 'model.onnx')) && existsSync(join(dir, 'test_data_set_0'))) out.push({ test, dir });
    }
  }
  return out;
}

/**
 * Imports a suite model. Models that feed an operand (Reshape's shape, Clip's bounds, Pad's pads,
 * Squeeze's axes) as a graph input are imported with those inputs bound to the suite's values.
 */
export function load(dir: string): Graph {
  const file = join(dir, 'model.onnx');
  try {
    return loadOnnx(file);
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    // operands fed as graph inputs: bind inputs 1.. to the suite's values and try once more
    const model = ModelProto.decode(readFileSync(file)) as unknown as PModel;
    const bind = new Map<string, Tensor>();
    (model.graph?.input ?? []).forEach((v, i) => {
      const pb = join(dir, 'test_data_set_0', `input_${i}.pb`);
      if (i > 0 && existsSync(pb)) bind.set(v.name, readTensorPb(pb).tensor);
    });
    if (bind.size === 0) throw e;
    return loadOnnx(file, { constInputs: bind });
  }
}


/** The suite's inputs for the graph's (remaining) inputs, and its expected outputs. */
export function dataSet(dir: string, g: Graph): { feeds: Record<string, Tensor>; expected: Tensor[] } {
  const ds = join(dir, 'test_data_set_0');
  const feeds: Record<string, Tensor> = {};
  g.inputs.forEach((v, i) => (feeds[v.name] = readTensorPb(join(ds, `input_${i}.pb`)).tensor));
  const expected = g.outputs.map((_, i) => readTensorPb(join(ds, `output_${i}.pb`)).tensor);
  return { feeds, expected };
}
