/**
 * Models with attributes no executor could run, and files that are not models: `inspect` and
 * `eval` refuse them at import with exit 1 and one line naming the file, the node and the
 * attribute — no stack trace, no blame on a later node.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';
import { buildModel, f32 } from '../helpers/onnx-build.js';

/** x [1, 1, 28, 28] → Conv (strides 0) → Relu → Flatten → y */
function strideZeroModel(): Uint8Array {
  return buildModel({
    opset: 13,
    inputs: [{ name: 'x', shape: [1, 1, 28, 28] }],
    outputs: [{ name: 'y' }],
    inits: { w: f32([2, 1, 3, 3], new Array(18).fill(0.1)) },
    nodes: [
      { name: 'conv', op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { strides: [0, 0] } },
      { name: 'relu', op: 'Relu', inputs: ['c'], outputs: ['r'] },
      { name: 'flat', op: 'Flatten', inputs: ['r'], outputs: ['y'] },
    ],
  });
}

describe('qloom on invalid models', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-bad-model-'));
  const strided = join(dir, 'stride0.onnx');
  writeFileSync(strided, strideZeroModel());
  const empty = join(dir, 'empty.onnx');
  writeFileSync(empty, new Uint8Array(0));

  for (const cmd of ['inspect', 'eval']) {
    it(`${cmd} of a Conv with strides [0,0]: exit 1, one line naming the file, the node and 'strides'`, async () => {
      // eval of a file needs its data set (a command-line problem, exit 2, before the file is read)
      const r = await qloom(cmd, strided, ...(cmd === 'eval' ? ['--data', 'mnist'] : []));
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('stride0.onnx');
      expect(lines[0]).toContain("node 'conv'");
      expect(lines[0]).toContain("'strides'");
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr).not.toContain('RangeError');
    });
  }

  it('inspect of an empty file: exit 1, says the file is empty and not an ONNX model', async () => {
    const r = await qloom('inspect', empty);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('empty.onnx');
    expect(r.stderr).toContain('empty');
    expect(r.stderr).toContain('not an ONNX model');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
