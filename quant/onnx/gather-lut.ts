/**
 * The LUT activations qloom's exporter writes as Cast + Gather (qwriter.ts `lutStage`: a swish,
 * hard-swish, tanh … table with one entry per storage code, indexed by Cast(int32) of the int8 /
 * uint8 input, negative int8 codes counting from the end) read back as one activation layer with
 * a qnet LUT.
 *
 * The table's input and output parameters are not on these nodes (the producer of the input and
 * the reader of the output declare them), so the layer is made with the raw table and finished
 * after the parameters are assembled (`finishGatherLuts`): the function is the one of qnet/lut.ts
 * whose table — at one entry per code or a coarser power of two, expanded per code as the
 * exporter expands it — equals the file's for those parameters. A table that is none of them is
 * reported by node (qloom can run only the functions it knows how to cost and re-export), as is a
 * Gather whose input or output scale the file does not give (between two Gathers, or at an integer
 * graph output: no layer declares it).
 */
import type { QActivation, QLayer, QParams, QTensorInfo } from '../../qnet/network.js';
import { LUT_FUNCTIONS, applyLutValue, buildLut, lutLayout } from '../../qnet/lut.js';
import { qRange } from '../../qnet/qmath.js';
import type { QImportState, RNode } from './qstate.js';

const ONNX_INT32 = 6;

/** Cast(to int32) of an int8 / uint8 activation: a LUT index; true when handled here. */
export function readLutIndexCast(st: QImportState, n: RNode): boolean {
  const x = n.inputs[0];
  if (n.op !== 'Cast' || !x || st.consts.has(x)) return false;
  const d = st.dtypeOf(x);
  if ((d !== 'int8' && d !== 'uint8') || st.int(n, 'to', 0) !== ONNX_INT32) return false;
  st.lutIndex.set(n.outputs[0], { x, node: n.name });
  st.setInfo(n.outputs[0], 'int32', st.shapeOf(x));
  return true;
}

/** Gather(constant table of 256 int8 / uint8 entries, a LUT index, axis 0): true when handled here. */
export function readLutGather(st: QImportState, n: RNode): boolean {
  const [data, indices] = n.inputs;
  const idx = indices ? st.lutIndex.get(indices) : undefined;
  if (n.op !== 'Gather' || !idx) return false;
  const t = data ? st.consts.get(data) : undefined;
  if (!t || (t.dtype !== 'int8' && t.dtype !== 'uint8') || t.shape.length !== 1 || t.shape[0] !== 256 || st.int(n, 'axis', 0) !== 0) {
    st.problem(n, `a Gather indexed by Cast(int32) of '${idx.x}' must read a constant 1-D int8 or uint8 table of 256 entries along axis 0 (a LUT activation)`);
    return true;
  }
  idx.used = true;
  const out = n.outputs[0];
  const raw = Int32Array.from(t.data as Int8Array | Uint8Array);
  // provisional until the parameters are known (finishGatherLuts)
  const placeholder: QActivation = { kind: 'none' };
  st.layer({ layer: { kind: 'activation', name: n.name, inputs: [idx.x], output: out, activation: placeholder }, decls: [], same: [] });
  st.gatherLuts.push({ layer: n.name, x: idx.x, out, raw });
  st.setInfo(out, t.dtype, st.shapeOf(idx.x));
  return true;
}

/** Problems for LUT-index Casts read by anything but a LUT Gather. */
export function checkLutIndices(st: QImportState): void {
  for (const [t, i] of st.lutIndex) {
    if (!i.used) st.problems.push({ node: i.node, op: 'Cast', message: `Cast of the integer activation '${i.x}' to int32 ('${t}') is supported only as the index of a constant Gather table (a LUT activation)` });
  }
}

/** The table as qnet indexes it (code − qmin) from the file's byte-order one. */
function perCode(raw: Int32Array, inQ: QParams): Int32Array {
  const { qmin, qmax } = qRange(inQ);
  const out = new Int32Array(qmax - qmin + 1);
  for (let c = qmin; c <= qmax; c++) out[c - qmin] = raw[c & 255];
  return out;
}

/**
 * The LUT activation of qnet/lut.ts that gives `want` (per code of `inQ`), or null. ONNX has no
 * narrow range: a signed input is also tried as narrow (its table starts at −127, −128 reads
 * −127's entry), which moves the buckets of a coarse table.
 */
function matchLut(want: Int32Array, inQ: QParams, outQ: QParams): Extract<QActivation, { kind: 'lut' }> | null {
  const codeMin = qRange(inQ).qmin;
  for (const q of inQ.signed ? [inQ, { ...inQ, narrow: true }] : [inQ]) {
    for (const fn of LUT_FUNCTIONS) {
      for (let entries = 2 ** q.bits; entries >= 2; entries /= 2) {
        const table = buildLut(fn, q, outQ, entries);
        const lay = lutLayout(q, entries, table);
        let same = true;
        for (let i = 0; i < want.length && same; i++) same = applyLutValue(codeMin + i, lay, table) === want[i];
        if (same) return { kind: 'lut', fn, inQ: q, entries, table };
      }
    }
  }
  return null;
}

/** Gives each Gather LUT layer its activation, now that `tensors` has the parameters. */
export function finishGatherLuts(st: QImportState, layers: QLayer[], tensors: ReadonlyMap<string, QTensorInfo>): void {
  for (const g of st.gatherLuts) {
    const k = layers.findIndex((l) => l.name === g.layer);
    if (k < 0) continue; // pruned
    const inQ = tensors.get(g.x)?.q;
    const outQ = tensors.get(g.out)?.q;
    const missing = [!inQ && g.x, !outQ && g.out].filter(Boolean);
    if (missing.length) {
      // a Gather's tensors get their scales from the layers around it: none between two Gathers, or at an integer graph output
      st.problems.push({ node: g.layer, op: 'Gather', message: `the file does not give the scale and zero point of ${missing.map((t) => `'${t}'`).join(' and ')} (no layer next to this Gather LUT declares them), so the table's function cannot be read` });
      continue;
    }
    if (inQ!.scale.length !== 1 || outQ!.scale.length !== 1) {
      st.problems.push({ node: g.layer, op: 'Gather', message: `a LUT needs per-tensor parameters on '${g.x}' and '${g.out}'` });
      continue;
    }
    const act = matchLut(perCode(g.raw, inQ!), inQ!, outQ!);
    if (!act) {
      st.problems.push({ node: g.layer, op: 'Gather', message: `the table is none of qloom's LUT functions (${LUT_FUNCTIONS.join(', ')}) between the parameters of '${g.x}' and '${g.out}'` });
      continue;
    }
    layers[k] = { ...(layers[k] as Extract<QLayer, { kind: 'activation' }>), activation: act };
  }
}
