/**
 * SCALE-Sim v2 topology CSVs (scalesim/topology_utils.py) → GEMM views.
 *
 * Conventions, as SCALE-Sim reads them:
 * - the first line is a header and is skipped; blank lines are skipped;
 * - rows end with a trailing comma (SCALE-Sim drops the last field unconditionally; here a last
 *   field is dropped only when it is empty, so a row without the comma is read the same way);
 * - conv rows: `name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride H[, Stride W]`
 *   (Stride W defaults to Stride H); no padding, output size ⌈(H − FH + S)/S⌉ — the window
 *   positions past the edge read nothing, which is expressed as bottom/right padding;
 * - a conv row whose name contains `DP` is depthwise in SCALE-Sim's way: it becomes one layer per
 *   channel (`<name>Channel_<i>`) with 1 channel and the row's Num Filter, as SCALE-Sim runs it;
 * - gemm rows (`-i gemm`): `name, M, N, K` — SCALE-Sim turns them into a 1×K filter over an M×K
 *   ifmap with N filters, i.e. the GEMM (M×K)·(K×N).
 * - the filter may not be larger than the ifmap.
 *
 * Limits (limits.ts), checked before any layer is built: a field is at most 2^31 − 1, a row's MACs
 * at most 2^53 − 1 (counts stay exact), and a topology has at most 65536 layers once DP rows are
 * expanded. Every view carries its row (`origin` = `file:line`) so later limits can name it.
 *
 * Every problem (bad number, missing field, filter larger than ifmap, a limit) is collected, each
 * with `file:line` and the field, into one ConfigError (which names no other source: the file once).
 */
import { ConfigError, type Problem } from '../../arch/errors.js';
import { convOutSize, gemmViewOfConv, gemmViewOfGemm, type GemmView } from './gemm-view.js';
import { MAX_COUNT, MAX_TOPOLOGY_FIELD, MAX_TOPOLOGY_LAYERS, fmtCount } from './limits.js';

/** `M·K·N = … MACs` over the exact-count limit, as a problem of the row */
function macsProblem(where: string, macs: number, how: string): Problem | null {
  if (macs <= MAX_COUNT) return null;
  return { path: where, message: `${how} = ${fmtCount(macs)} MACs; qloom counts exactly only up to 2^53 − 1 ≈ 9.0e15 (make the layer smaller)` };
}

const CONV_FIELDS = ['IFMAP Height', 'IFMAP Width', 'Filter Height', 'Filter Width', 'Channels', 'Num Filter', 'Stride Height', 'Stride Width'] as const;
const GEMM_FIELDS = ['M', 'N', 'K'] as const;

export function parseTopologyCsv(text: string, file: string, mode: 'conv' | 'gemm'): GemmView[] {
  const problems: Problem[] = [];
  const views: GemmView[] = [];
  const lines = text.split(/\r?\n/);
  let sawHeader = false;
  let layers = 0;
  let tooMany = false;
  for (let li = 0; li < lines.length; li++) {
    const row = lines[li].trim();
    if (!sawHeader) {
      // SCALE-Sim skips the first line whatever it holds
      sawHeader = true;
      continue;
    }
    if (row === '') continue;
    const where = `${file}:${li + 1}`;
    const fields = row.split(',');
    if (fields.length > 1 && fields[fields.length - 1].trim() === '') fields.pop();
    const name = fields[0].trim();
    if (name === '') problems.push({ path: where, message: 'the layer name (first field) is empty' });
    const names: readonly string[] = mode === 'conv' ? CONV_FIELDS : GEMM_FIELDS;
    const minFields = mode === 'conv' ? 7 : 3;
    const values: number[] = [];
    let ok = true;
    const given = fields.length - 1;
    if (given < minFields) {
      problems.push({
        path: where,
        message: `${given} value(s) after the name; a ${mode} row needs ${minFields === 7 ? '7 or 8' : '3'} (${names.slice(0, mode === 'conv' ? 8 : 3).join(', ')})`,
      });
      continue;
    }
    if (mode === 'conv' && given > 8) {
      problems.push({ path: where, message: `${given} values after the name; a conv row has at most 8 (${names.join(', ')})` });
      continue;
    }
    const take = mode === 'conv' ? given : 3; // SCALE-Sim ignores extra gemm fields
    for (let i = 0; i < take; i++) {
      const raw = fields[i + 1].trim();
      const label = names[i];
      if (!/^\+?\d+$/.test(raw) || Number(raw) < 1) {
        problems.push({ path: `${where} ${label}`, message: `${JSON.stringify(raw)} is not an integer ≥ 1` });
        ok = false;
      } else if (Number(raw) > MAX_TOPOLOGY_FIELD) {
        problems.push({ path: `${where} ${label}`, message: `${raw} is above the largest value a field may have, 2^31 − 1 = ${MAX_TOPOLOGY_FIELD}` });
        ok = false;
      } else values.push(Number(raw));
    }
    if (!ok || name === '') continue;
    if (mode === 'gemm') {
      const [M, N, K] = values;
      const big = macsProblem(where, M * K * N, `M·N·K = ${M}·${N}·${K}`);
      if (big) problems.push(big);
      else if (++layers > MAX_TOPOLOGY_LAYERS) tooMany = true;
      else views.push(gemmViewOfGemm(name, M, K, N, where));
      continue;
    }
    const [ifmapH, ifmapW, filterH, filterW, channels, numFilters, strideH] = values;
    const strideW = values.length > 7 ? values[7] : strideH;
    if (filterH > ifmapH) problems.push({ path: `${where} Filter Height`, message: `${filterH} is larger than the IFMAP height ${ifmapH}` });
    if (filterW > ifmapW) problems.push({ path: `${where} Filter Width`, message: `${filterW} is larger than the IFMAP width ${ifmapW}` });
    if (filterH > ifmapH || filterW > ifmapW) continue;
    // ⌈(H − FH + S)/S⌉ output rows = floor mode with (S − (H − FH) mod S) mod S rows of bottom padding
    const padBottom = (strideH - ((ifmapH - filterH) % strideH)) % strideH;
    const padRight = (strideW - ((ifmapW - filterW) % strideW)) % strideW;
    const base = { ifmapH, ifmapW, filterH, filterW, numFilters, strideH, strideW, padTop: 0, padLeft: 0, padBottom, padRight, dilationH: 1, dilationW: 1, group: 1 };
    const out = convOutSize(ifmapH, filterH, strideH, 0, padBottom, 1) * convOutSize(ifmapW, filterW, strideW, 0, padRight, 1);
    const big = macsProblem(where, out * filterH * filterW * channels * numFilters, `output pixels · window · filters = ${out}·${filterH * filterW * channels}·${numFilters}`);
    if (big) {
      problems.push(big);
      continue;
    }
    const dp = name.includes('DP');
    if (dp && channels > MAX_TOPOLOGY_LAYERS) {
      problems.push({ path: `${where} Channels`, message: `a DP row runs one layer per channel: ${channels} layers, more than the ${MAX_TOPOLOGY_LAYERS} a topology may have` });
      continue;
    }
    layers += dp ? channels : 1;
    if (layers > MAX_TOPOLOGY_LAYERS) {
      tooMany = true;
      continue;
    }
    if (dp) {
      for (let c = 0; c < channels; c++) views.push(gemmViewOfConv(`${name}Channel_${c}`, { ...base, channels: 1 }, where));
    } else {
      views.push(gemmViewOfConv(name, { ...base, channels }, where));
    }
  }
  if (tooMany) problems.push({ path: file, message: `${layers} layers (DP rows count one per channel), more than the ${MAX_TOPOLOGY_LAYERS} a topology may have` });
  if (!sawHeader) problems.push({ path: file, message: 'the file is empty (SCALE-Sim expects a header line, then one row per layer)' });
  // each problem names its file and row (`file:line`), so the error names no source: the file once
  if (problems.length > 0) throw new ConfigError(problems);
  if (views.length === 0) throw new ConfigError([{ path: file, message: 'no layers after the header line' }]);
  return views;
}
