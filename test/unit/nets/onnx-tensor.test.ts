/**
 * TensorProto ↔ Tensor and the ONNX test-data `.pb` files: every dtype through raw_data and the
 * typed fields, unaligned raw_data, hostile dims, atomic writes, and every conformance `.pb` that
 * Debian's libonnx-testdata ships.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import type { Tensor } from '../../../nets/graph.js';
import { TensorProto, type PTensor } from '../../../nets/onnx/schema.js';
import { decodeTensorPb, encodeTensorPb, readTensorPb, tensorFromProto, tensorToProto, writeTensorPb } from '../../../nets/onnx/tensor.js';
import { modelErrorOf } from '../../helpers/errors.js';

const TESTDATA = '/usr/share/libonnx-testdata/data';

const samples: Tensor[] = [
  { dtype: 'float32', shape: [2, 3], data: Float32Array.of(1.5, -2, 0, -0, Infinity, 3.4e38) },
  { dtype: 'float32', shape: [], data: Float32Array.of(Math.PI) },
  { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
  { dtype: 'int8', shape: [4], data: Int8Array.of(-128, -1, 0, 127) },
  { dtype: 'uint8', shape: [2, 2], data: Uint8Array.of(0, 1, 128, 255) },
  { dtype: 'int32', shape: [3], data: Int32Array.of(-(2 ** 31), 0, 2 ** 31 - 1) },
  { dtype: 'int64', shape: [3], data: BigInt64Array.of(-(2n ** 63n), 5n, 2n ** 63n - 1n) },
];

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function decode(bytes: Uint8Array): PTensor {
  return TensorProto.decode(bytes) as unknown as PTensor;
}

describe('tensorFromProto / tensorToProto', () => {
  it('round-trips every dtype bit for bit through raw_data', () => {
    for (const t of samples) {
      const back = decodeTensorPb(encodeTensorPb('t', t));
      expect(back.name).toBe('t');
      expect(back.tensor.dtype).toBe(t.dtype);
      expect(back.tensor.shape).toEqual(t.shape);
      expect(Buffer.from(back.tensor.data.buffer, back.tensor.data.byteOffset, back.tensor.data.byteLength)).toEqual(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
    }
  });

  it('writes raw_data little-endian, as the format requires', () => {
    const p = tensorToProto({ dtype: 'int32', shape: [1], data: Int32Array.of(0x01020304) }, 'x');
    expect([...(p.raw_data as Uint8Array)]).toEqual([4, 3, 2, 1]);
    const q = tensorToProto({ dtype: 'float32', shape: [1], data: Float32Array.of(1) }, 'x');
    expect([...(q.raw_data as Uint8Array)]).toEqual([0, 0, 0x80, 0x3f]);
  });

  it('reads the typed fields (float_data, int32_data, int64_data, double_data)', () => {
    const enc = (o: Record<string, unknown>) => decode(TensorProto.encode(o).finish());
    expect(tensorFromProto(enc({ dims: [2], data_type: 1, float_data: [0.5, -1] }), 't')).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.of(0.5, -1) });
    expect(tensorFromProto(enc({ dims: [3], data_type: 3, int32_data: [-5, 0, 7] }), 't')).toEqual({ dtype: 'int8', shape: [3], data: Int8Array.of(-5, 0, 7) });
    expect(tensorFromProto(enc({ dims: [2], data_type: 2, int32_data: [255, 3] }), 't')).toEqual({ dtype: 'uint8', shape: [2], data: Uint8Array.of(255, 3) });
    expect(tensorFromProto(enc({ dims: [2], data_type: 6, int32_data: [-7, 9] }), 't')).toEqual({ dtype: 'int32', shape: [2], data: Int32Array.of(-7, 9) });
    expect(tensorFromProto(enc({ dims: [2], data_type: 7, int64_data: [-3, 2 ** 40] }), 't')).toEqual({
      dtype: 'int64',
      shape: [2],
      data: BigInt64Array.of(-3n, 2n ** 40n),
    });
    // doubles become float32 (rounded), whichever field holds them
    const d = tensorFromProto(enc({ dims: [2], data_type: 11, double_data: [0.1, 1e300] }), 't');
    expect(d).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.of(0.1, Infinity) });
    const raw = new Uint8Array(new Float64Array([0.1, -2]).buffer);
    expect(tensorFromProto(enc({ dims: [2], data_type: 11, raw_data: raw }), 't').data).toEqual(Float32Array.of(0.1, -2));
  });

  it('copies unaligned raw_data', () => {
    // a message whose raw_data starts at an odd offset inside a larger buffer
    const body = encodeTensorPb('odd', { dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, 3) });
    const buf = new Uint8Array(body.length + 1);
    buf.set(body, 1);
    const t = decodeTensorPb(buf.subarray(1)).tensor;
    expect(t.data).toEqual(Float32Array.of(1, 2, 3));
  });

  it('refuses bad data with ModelError: length mismatch, absurd dims, unsupported type, out-of-range int8', () => {
    const enc = (o: Record<string, unknown>) => decode(TensorProto.encode(o).finish());
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: [2, 2], data_type: 1, raw_data: new Uint8Array(12) }), 'w')).message).toContain('need 16');
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: [3], data_type: 1, float_data: [1, 2] }), 'w')).message).toContain('need 3');
    const t0 = performance.now();
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: [2 ** 31, 2 ** 31], data_type: 1, raw_data: new Uint8Array(4) }), 'w')).message).toContain('exceed');
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: new Array(100).fill(1), data_type: 1, raw_data: new Uint8Array(4) }), 'w')).message).toContain('rank');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: [1], data_type: 10, raw_data: new Uint8Array(2) }), 'w')).message).toContain('FLOAT16');
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: [1], data_type: 3, int32_data: [200] }), 'w')).message).toContain('out of range');
    expect(modelErrorOf(() => tensorFromProto(enc({ dims: [1], data_type: 1, data_location: 1 }), 'w')).message).toContain('EXTERNAL');
    const e = modelErrorOf(() => decodeTensorPb(Uint8Array.of(0x0a, 0xff), 'bad.pb'));
    expect(e.file).toBe('bad.pb');
  });
});

describe('readTensorPb / writeTensorPb', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-pb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips through a file and leaves no temp files behind', () => {
    for (const [i, t] of samples.entries()) {
      const p = join(dir, `t${i}.pb`);
      writeTensorPb(p, `tensor_${i}`, t);
      const back = readTensorPb(p);
      expect(back.name).toBe(`tensor_${i}`);
      expect(back.tensor).toEqual(t);
    }
    expect(readdirSync(dir).sort()).toEqual(samples.map((_, i) => `t${i}.pb`).sort());
  });

  it('a missing file is a ModelError naming it', () => {
    expect(modelErrorOf(() => readTensorPb(join(dir, 'nope.pb'))).file).toBe(join(dir, 'nope.pb'));
  });
});

describe.skipIf(!existsSync(TESTDATA))('ONNX conformance test data (libonnx-testdata)', () => {
  it('reads every test_data_set_0/*.pb: a Tensor that re-encodes identically, or a ModelError', () => {
    let read = 0;
    let refused = 0;
    for (const suite of readdirSync(TESTDATA)) {
      const suiteDir = join(TESTDATA, suite);
      for (const test of readdirSync(suiteDir)) {
        const ds = join(suiteDir, test, 'test_data_set_0');
        if (!existsSync(ds)) continue;
        for (const f of readdirSync(ds)) {
          if (!f.endsWith('.pb')) continue;
          const path = join(ds, f);
          let r: { name: string; tensor: Tensor };
          try {
            r = readTensorPb(path);
          } catch (e) {
            expect(e, path).toBeInstanceOf(ModelError);
            refused++;
            continue;
          }
          read++;
          const { tensor } = r;
          expect(tensor.data.length, path).toBe(tensor.shape.reduce((a, b) => a * b, 1));
          // the independent view: dims straight from protobufjs
          const raw = decode(readFileSync(path));
          expect(tensor.shape, path).toEqual(raw.dims.map(Number));
          const again = decodeTensorPb(encodeTensorPb(r.name, tensor)).tensor;
          expect([again.dtype, again.shape], path).toEqual([tensor.dtype, tensor.shape]);
          // bytes, not toEqual: element-wise deep equality over a few hundred MB of arrays is slow
          expect(bytesOf(again).equals(bytesOf(tensor)), path).toBe(true);
        }
      }
    }
    expect(read).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(0); // bool / string / float16 data exists and must be refused cleanly
  });

  it('agrees with the typed values of known files', () => {
    // test_relu: y = max(x, 0) elementwise, so the two files must agree through our reader
    const dir = join(TESTDATA, 'node/test_relu/test_data_set_0');
    if (!existsSync(dir)) return;
    const x = readTensorPb(join(dir, 'input_0.pb')).tensor;
    const y = readTensorPb(join(dir, 'output_0.pb')).tensor;
    expect(x.shape).toEqual([3, 4, 5]);
    expect(y.shape).toEqual([3, 4, 5]);
    const xs = x.data as Float32Array;
    const ys = y.data as Float32Array;
    let positives = 0;
    for (let i = 0; i < xs.length; i++) {
      expect(ys[i]).toBe(Math.max(xs[i], 0));
      if (xs[i] > 0) positives++;
    }
    expect(positives).toBeGreaterThan(5);
    expect(positives).toBeLessThan(55);
  });
});
