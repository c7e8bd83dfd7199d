/**
 * Hostile and absurd input at every loader the command line reaches (issue 17), in-process: damaged
 * ONNX bytes (the bundled zoo models), tfjs folders (model.json edited or damaged, shards cut,
 * `.min.js` bundles with code spliced in), SCALE-Sim topology CSVs (random rows, simulated) and
 * .cfg files, arch specs and energy tables in JSON and YAML, scenario files. Each input loads, or is
 * refused with a qloom error of an input kind (never another exception type, never an
 * InvariantError — a bug), with a message of one line or a list of problems, within a time
 * budget; a loader writes nothing and runs nothing it reads. Referee for the JSON syntax
 * locator: JSON.parse. Seeded (test/setup.ts); fast-check prints the seed and the path on failure.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { HOROWITZ_45NM, loadEnergyTable } from '../../arch/energy.js';
import { PRESETS } from '../../arch/presets.js';
import { loadArchSpec, type ArchSpec } from '../../arch/spec.js';
import { jsonSyntaxError } from '../../errors/hints.js';
import type { ErrorKind } from '../../errors/index.js';
import { ZOO_DIR } from '../../nets/zoo/index.js';
import { inspectModel } from '../../scenarios/models.js';
import { loadScenario } from '../../scenarios/scenario.js';
import { simulateTopology } from '../../scenarios/simulate.js';
import { applyMutation, expectCleanMessage, loadedOrRefused, mutateText, mutation, type Outcome } from '../helpers/fuzz.js';

const BUDGET_MS = 3000;
const work = mkdtempSync(join(tmpdir(), 'qloom-input-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let caseNo = 0;
/** a fresh folder holding `files`; the case must leave exactly these behind */
function caseDir(files: Record<string, string | Uint8Array>): { dir: string; check: () => void } {
  const dir = join(work, `case${caseNo++}`);
  mkdirSync(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return {
    dir,
    check: () => {
      expect(readdirSync(dir).sort()).toEqual(Object.keys(files).sort());
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `load` on `body` written as `name` in a fresh folder: loaded, or refused with an error of `kind` */
function loadFile<T>(name: string, body: string | Uint8Array, load: (file: string) => T, kind: ErrorKind): Outcome<T> {
  const { dir, check } = caseDir({ [name]: body });
  const r = loadedOrRefused(() => load(join(dir, name)), BUDGET_MS);
  if (r.error) expect(r.error.kind, r.error.message).toBe(kind);
  check();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Structured edits of a JSON document: what a careless or hostile user writes into a spec

/** values a careless or hostile user might put anywhere */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0, -1, 1, 3, 2 ** 31, 2 ** 53, 2 ** 64, 1e308, -1e308, 1e-308, 0.5, -0, '', ' ', 'x', 'auto',
    '1e400 GB', '-3 KiB', '0 Hz', '1e300 s', '1e-300 B/s', '256 KiB', '12.8 GB/s', '8x8', '0x0', 'ws', 'NaN', 'Infinity',
    null, true, false, [], {}, [[]], '__proto__', 'constructor', 'toString', 'w8a8-pt', 'edge-npu', 'mnist', 'fmnist-cnn',
  ),
  fc.integer({ min: -5, max: 70 }),
  fc.double(),
  fc.string({ maxLength: 10 }),
  fc.jsonValue({ maxDepth: 2 }),
);

type DocEdit = { op: 'set' | 'delete' | 'rename' | 'add' | 'wrap'; at: number; key: string; value: unknown };
const docEdit: fc.Arbitrary<DocEdit> = fc.record({
  op: fc.constantFrom('set', 'set', 'delete', 'rename', 'add', 'wrap'),
  at: fc.nat(),
  key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'name', 'x', 'rows', 'bits', 'samples', 'preset'), fc.string({ maxLength: 6 })),
  value: hostileValue,
});

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

/** every (container, key) slot in `doc`, depth first */
function slots(doc: Container): [Container, string | number][] {
  const out: [Container, string | number][] = [];
  const walk = (c: Container): void => {
    for (const k of Array.isArray(c) ? c.keys() : Object.keys(c)) {
      out.push([c, k]);
      const v = (c as Record<string | number, unknown>)[k];
      if (isContainer(v)) walk(v);
    }
  };
  walk(doc);
  return out;
}

/** an own key, even `__proto__` (plain assignment would set the prototype instead) */
function put(c: Container, k: string | number, v: unknown): void {
  if (Array.isArray(c) && typeof k !== 'number') return; // a named key on a list serializes as nothing
  Object.defineProperty(c, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function applyEdits(src: unknown, edits: readonly DocEdit[]): unknown {
  const doc = structuredClone(src) as Container;
  for (const e of edits) {
    const all = slots(doc);
    if (all.length === 0) continue;
    const [c, k] = all[e.at % all.length];
    const v = (c as Record<string | number, unknown>)[k];
    switch (e.op) {
      case 'set':
        put(c, k, e.value);
        break;
      case 'delete':
        if (Array.isArray(c)) c.splice(k as number, 1);
        else delete c[k as string];
        break;
      case 'rename':
        if (!Array.isArray(c)) {
          delete c[k as string];
          put(c, `${String(k).slice(0, -1)}${e.key.slice(0, 1)}`, v);
        }
        break;
      case 'add':
        if (Array.isArray(v)) v.push(e.value);
        else if (isContainer(v)) put(v, e.key, e.value);
        else put(c, e.key, e.value);
        break;
      case 'wrap':
        put(c, k, [v]);
        break;
    }
  }
  return doc;
}

/** texts no edit of a real file would produce: resource-exhaustion attempts and nonsense */
const HOSTILE_TEXTS: readonly string[] = [
  '',
  '\uFEFF',
  '\0\0\0\0',
  `${'['.repeat(20000)}${']'.repeat(20000)}`,
  `{"a":${'['.repeat(20000)}${']'.repeat(20000)}}`,
  // billion laughs: 9 levels of 9 aliases
  ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...Array.from({ length: 8 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(', ')}]`)].join('\n'),
  `name: x\nlong: "${'y'.repeat(1 << 20)}"\n`,
  '- - - - - - -\n',
  'null',
  '[]',
  '"just a string"',
  '!!js/function "function(){ return 1 }"',
];

/** a document as a user would give it: edited, serialized as JSON or YAML, maybe damaged as bytes */
function docText(base: unknown, format: 'json' | 'yaml'): fc.Arbitrary<string> {
  const serialize = (d: unknown) => (format === 'json' ? JSON.stringify(d, null, 2) : toYaml(d, { aliasDuplicateObjects: false }));
  const baseText = serialize(base);
  return fc.oneof(
    { weight: 5, arbitrary: fc.array(docEdit, { minLength: 1, maxLength: 4 }).map((es) => serialize(applyEdits(base, es))) },
    { weight: 3, arbitrary: fc.array(mutation(Buffer.byteLength(baseText)), { minLength: 1, maxLength: 3 }).map((ms) => mutateText(baseText, ms)) },
    { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_TEXTS) },
  );
}

// ---------------------------------------------------------------------------------------------

describe('the JSON syntax locator (messages say line and column) agrees with JSON.parse', () => {
  const accepts = (t: string): boolean => {
    try {
      JSON.parse(t);
      return true;
    } catch {
      return false;
    }
  };
  const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v, null, 1));
  const soup = fc.string({ unit: fc.constantFrom(...'{}[],:"\\ \n\t0123456789-+.eEtrufalsn'), maxLength: 30 });
  it('valid iff JSON.parse accepts; a refusal names a line and column inside the text', () => {
    const text = fc.oneof(json, soup, fc.tuple(json, fc.array(mutation(64), { minLength: 1, maxLength: 2 })).map(([t, ms]) => mutateText(t, ms)));
    fc.assert(
      fc.property(text, (t) => {
        const err = jsonSyntaxError(t);
        expect(err === undefined, `${JSON.stringify(t)} → ${err}`).toBe(accepts(t));
        if (err === undefined) return;
        const m = /^line (\d+), column (\d+): \S/.exec(err);
        expect(m, err).not.toBeNull();
        const lines = t.split('\n');
        const [line, col] = [Number(m![1]), Number(m![2])];
        expect(line).toBeLessThanOrEqual(lines.length);
        expect(col).toBeLessThanOrEqual(lines[line - 1].length + 1);
        expect(err).not.toContain('\n');
      }),
      { numRuns: 3000 },
    );
  });
});

describe('arch specs and energy tables (JSON, YAML): loaded or refused with every problem', () => {
  const bases = [PRESETS['edge-npu'], PRESETS['scalesim-default']];
  for (const format of ['json', 'yaml'] as const) {
    it(`arch ${format}`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...bases.keys()).chain((b) => docText(bases[b], format)), (text) => {
          loadFile(`arch.${format}`, text, loadArchSpec, 'config');
        }),
        { numRuns: format === 'json' ? 250 : 150 },
      );
    });
  }

  it('energy table json / yaml', () => {
    fc.assert(
      fc.property(fc.constantFrom('json' as const, 'yaml' as const).chain((f) => docText(HOROWITZ_45NM, f).map((t) => [f, t] as const)), ([format, text]) => {
        loadFile(`table.${format}`, text, loadEnergyTable, 'config');
      }),
      { numRuns: 150 },
    );
  });

  it('a JSON syntax error names the file, the line and the column', () => {
    const r = loadFile('arch.json', '{\n  "name": "x",\n}\n', loadArchSpec, 'config');
    expect(r.error?.message).toMatch(/arch\.json: not valid JSON: line 2, column 14: a trailing comma before '}'$/);
  });

  it('a YAML syntax error is one line naming the file, the line and the column', () => {
    const r = loadFile('arch.yaml', 'name: x\n  bad: [1,\n', loadArchSpec, 'config');
    expect(r.error?.message).toMatch(/arch\.yaml: not valid YAML: .* at line \d+, column \d+$/);
  });

  it('a directory, a file of another kind or a missing path as an arch or table: says which, and what is accepted', () => {
    const { dir, check } = caseDir({ 'notes.txt': 'x' });
    const cases: [string, RegExp][] = [
      [dir, /: is a directory; an arch is a preset name \(edge-npu, .*\) or a spec file \(\.json, \.yaml, \.yml, or a SCALE-Sim \.cfg\)$/],
      [join(dir, 'notes.txt'), /: is neither a \.json, \.yaml, \.yml nor a \.cfg file; an arch is a preset name/],
      [join(dir, 'gone'), /: no such file; an arch is a preset name/],
    ];
    for (const [path, re] of cases) {
      const r = loadedOrRefused(() => loadArchSpec(path), BUDGET_MS);
      expect(r.error?.message.startsWith(`${path}: `), r.error?.message).toBe(true);
      expect(r.error?.message).toMatch(re);
    }
    expect(loadedOrRefused(() => loadEnergyTable(dir), BUDGET_MS).error?.message).toBe(`${dir}: is a directory; an energy table is one of horowitz-45nm or a .json/.yaml file`);
    check();
  });

  it('names that are Object.prototype keys are unknown presets / tables, not specs', () => {
    for (const name of ['constructor', 'toString', '__proto__']) {
      expect(loadedOrRefused(() => loadArchSpec(name), BUDGET_MS).error?.message).toMatch(/^unknown arch preset/);
      expect(loadedOrRefused(() => loadEnergyTable(name), BUDGET_MS).error?.message).toMatch(/^unknown energy table/);
    }
  });
});

// SCALE-Sim v2 config (test_is_32x32_user10 of the golden set)
const CFG = `[general]
run_name = fuzz

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:   64
FilterSramSzkB:  64
OfmapSramSzkB:   64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : is
MemoryBanks:   1

[run_presets]
InterfaceBandwidth: USER
`;

describe('SCALE-Sim .cfg files: loaded or refused', () => {
  const lines = CFG.split('\n');
  type LineEdit = { at: number; op: 'delete' | 'dup' | 'value' | 'key' | 'raw'; text: string };
  const lineEdit: fc.Arbitrary<LineEdit> = fc.record({
    at: fc.nat(),
    op: fc.constantFrom('delete', 'dup', 'value', 'value', 'key', 'raw'),
    text: fc.oneof(
      fc.constantFrom('0', '-1', '1e400', '2147483648', '99999999999', 'ws', 'os', 'xx', 'CALC', 'USER', '', '[general]', '[bogus]', '= 3', ':::', 'ArrayHeight: 0'),
      fc.string({ maxLength: 8 }),
    ),
  });
  const editLines = (es: LineEdit[]): string => {
    const out = [...lines];
    for (const e of es) {
      const i = e.at % out.length;
      if (e.op === 'delete') out.splice(i, 1);
      else if (e.op === 'dup') out.splice(i, 0, out[i]);
      else if (e.op === 'raw') out.splice(i, 0, e.text);
      else {
        const [k, ...rest] = out[i].split(/[:=]/);
        out[i] = e.op === 'value' ? `${k}: ${e.text}` : `${e.text}:${rest.join(':')}`;
      }
    }
    return out.join('\n');
  };
  it('line edits and byte damage', () => {
    const text = fc.oneof(
      fc.array(lineEdit, { minLength: 1, maxLength: 4 }).map(editLines),
      fc.array(mutation(CFG.length), { minLength: 1, maxLength: 3 }).map((ms) => mutateText(CFG, ms)),
      fc.constantFrom(...HOSTILE_TEXTS),
    );
    fc.assert(
      fc.property(text, (t) => {
        loadFile('arch.cfg', t, loadArchSpec, 'config');
      }),
      { numRuns: 200 },
    );
  });
});

describe('SCALE-Sim topologies: simulated or refused with file:row, within the budget', () => {
  const field = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 40 }).map(String) },
    {
      weight: 2,
      arbitrary: fc.constantFrom('0', '-1', '+4', ' 7 ', '', '3.5', '1e3', '0x10', 'NaN', '2147483647', '2147483648', '99999999999999999999', '100000', '1000000000'),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
  );
  const name = fc.oneof(fc.constantFrom('conv1', 'DPconv', 'fc', '', ' ', '"q"', 'DP'), fc.string({ maxLength: 6 }));
  const row = fc.tuple(name, fc.array(field, { maxLength: 10 }), fc.boolean()).map(([n, fs, comma]) => [n, ...fs].join(',') + (comma ? ',' : ''));
  const csv = fc
    .tuple(fc.constantFrom('Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,', 'h', ''), fc.array(row, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'))
    .map(([h, rows, nl]) => [h, ...rows].join(nl));
  let archs: ArchSpec[] = [];
  it('random rows on three arches (native and SCALE-Sim memory models), conv and gemm', () => {
    archs = [loadArchSpec('edge-npu'), loadArchSpec('scalesim-default'), loadArchSpec('mcu-npu')];
    fc.assert(
      fc.property(csv, fc.nat(archs.length - 1), fc.boolean(), (text, a, gemm) => {
        const { dir, check } = caseDir({ 't.csv': text });
        const file = join(dir, 't.csv');
        const r = loadedOrRefused(() => simulateTopology({ arch: archs[a], topology: file, gemm }), BUDGET_MS);
        if (r.error) {
          expect(r.error.kind).toBe('config');
          // the file is named once (each problem says file:row, or the file alone)
          expect(r.error.message.split(file).length - 1, r.error.message).toBeLessThanOrEqual(r.error.message.split('\n').length);
        } else {
          const t = r.value!.totals;
          expect(Number.isSafeInteger(t.cycles) && t.cycles > 0, String(t.cycles)).toBe(true);
        }
        check();
      }),
      { numRuns: 200 },
    );
  });

  it('a bad row names the file once, with the row and the field', () => {
    const { dir, check } = caseDir({ 't.csv': 'h\nc1, 8, 8, 3, 3, 4, 8, 1,\nc2, 6, x, 1, 1, 8, 40, 1,\n' });
    const file = join(dir, 't.csv');
    const r = loadedOrRefused(() => simulateTopology({ arch: 'edge-npu', topology: file }), BUDGET_MS);
    expect(r.error?.message).toBe(`${file}:3 IFMAP Width: "x" is not an integer ≥ 1`);
    check();
  });
});

describe('scenario files (YAML, JSON): validated or refused with every problem', () => {
  const builtin = join(import.meta.dirname, '../../scenarios/builtin');
  const docs = readdirSync(builtin).map((f) => readFileSync(join(builtin, f), 'utf8'));
  // parsed with the same YAML library the loader uses
  const parsed = docs.map((t) => JSON.parse(JSON.stringify(parseYaml(t))) as unknown);
  it('edited, damaged and hostile scenarios', () => {
    const text = fc.nat(docs.length - 1).chain((i) =>
      fc.oneof(
        fc.constantFrom('json' as const, 'yaml' as const).chain((f) => docText(parsed[i], f).map((t) => [f, t] as const)),
        fc.array(mutation(docs[i].length), { minLength: 1, maxLength: 3 }).map((ms) => ['yaml' as const, mutateText(docs[i], ms)] as const),
      ),
    );
    fc.assert(
      fc.property(text, ([format, t]) => {
        loadFile(`s.${format}`, t, loadScenario, 'config');
      }),
      { numRuns: 200 },
    );
  });

  it('a directory named as a scenario is refused as a config problem', () => {
    const { dir, check } = caseDir({});
    const r = loadedOrRefused(() => loadScenario(dir), BUDGET_MS);
    expect(r.error?.kind).toBe('config');
    expect(r.error?.message).toContain(dir);
    check();
  });
});

describe('ONNX: the bundled zoo models damaged, inspected as a file', () => {
  const zoo = readdirSync(ZOO_DIR).filter((f) => f.endsWith('.onnx'));
  it.each(zoo)('%s', (name) => {
    const src = new Uint8Array(readFileSync(join(ZOO_DIR, name)));
    fc.assert(
      fc.property(fc.array(mutation(src.length), { minLength: 1, maxLength: 3 }), (ms) => {
        let bytes: Uint8Array = src;
        for (const m of ms) bytes = applyMutation(bytes, m);
        loadFile('m.onnx', bytes, inspectModel, 'model');
      }),
      { numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// tfjs folders: a tiny Keras model (conv → pool → flatten → dense), as model.json + .bin shard and
// as the .min.js bundles nsfwjs ships

const TOPOLOGY = {
  class_name: 'Sequential',
  config: {
    name: 'tiny',
    layers: [
      {
        class_name: 'Conv2D',
        config: { name: 'c', filters: 3, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true, batch_input_shape: [null, 6, 6, 2], dtype: 'float32' },
      },
      { class_name: 'MaxPooling2D', config: { name: 'p', pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_last' } },
      { class_name: 'Flatten', config: { name: 'f' } },
      { class_name: 'Dense', config: { name: 'd', units: 4, activation: 'softmax', use_bias: true } },
    ],
  },
  keras_version: 'tfjs-layers 4.22.0',
  backend: 'tensor_flow.js',
};
const WEIGHTS = [
  { name: 'c/kernel', shape: [3, 3, 2, 3], dtype: 'float32' },
  { name: 'c/bias', shape: [3], dtype: 'float32' },
  { name: 'd/kernel', shape: [27, 4], dtype: 'float32' },
  { name: 'd/bias', shape: [4], dtype: 'float32' },
];
const MODEL_JSON = { format: 'layers-model', modelTopology: TOPOLOGY, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: WEIGHTS }] };
const SHARD = new Uint8Array(Float32Array.from({ length: 54 + 3 + 108 + 4 }, (_, i) => Math.sin(i) / 4).buffer);

/** JavaScript that would leave `marker` behind if anything ran it */
const payloads = (marker: string): string[] => [
  `(function(){require('fs').writeFileSync(${JSON.stringify(marker)},'x')})()`,
  `this.constructor.constructor('return process')().getBuiltinModule('fs').writeFileSync(${JSON.stringify(marker)},'x')`,
  `get x(){require('fs').writeFileSync(${JSON.stringify(marker)},'x');return 1}`,
  `\`\${require('fs').writeFileSync(${JSON.stringify(marker)},'x')}\``,
  `[require('fs').writeFileSync(${JSON.stringify(marker)},'x')]:1`,
];

describe('tfjs folders: loaded or refused, never run', () => {
  it('the undamaged tiny model loads (so the properties are not about broken files only)', () => {
    const { dir, check } = caseDir({ 'model.json': JSON.stringify(MODEL_JSON), 'group1-shard1of1.bin': SHARD });
    const r = loadedOrRefused(() => inspectModel(dir), BUDGET_MS);
    expect(r.error?.message).toBeUndefined();
    expect(r.value!.layers.length).toBeGreaterThan(2);
    check();
  });

  it('model.json edited or damaged, the shard cut or damaged', () => {
    const json = JSON.stringify(MODEL_JSON);
    const shardPaths = fc.constantFrom('group1-shard1of1.bin', '../../../etc/hostname', '/etc/hostname', '', '.', 'nope.bin', 'model.json');
    const modelText = fc.oneof(
      docText(MODEL_JSON, 'json'),
      fc.array(mutation(json.length), { minLength: 1, maxLength: 3 }).map((ms) => mutateText(json, ms)),
      shardPaths.map((p) => JSON.stringify({ ...MODEL_JSON, weightsManifest: [{ paths: [p], weights: WEIGHTS }] })),
      fc.constantFrom(...HOSTILE_TEXTS),
    );
    const shard = fc.oneof(fc.constant(SHARD), fc.array(mutation(SHARD.length), { minLength: 1, maxLength: 2 }).map((ms) => ms.reduce<Uint8Array>((b, m) => applyMutation(b, m), SHARD)));
    fc.assert(
      fc.property(modelText, shard, (m, s) => {
        const { dir, check } = caseDir({ 'model.json': m, 'group1-shard1of1.bin': s });
        const r = loadedOrRefused(() => inspectModel(dir), BUDGET_MS);
        if (r.error) expect(r.error.kind).toBe('model');
        check();
      }),
      { numRuns: 200 },
    );
  });

  it('.min.js bundles: damaged, or with code spliced in anywhere — parsed, never executed', () => {
    const model = `!function(){}(),module.exports=${JSON.stringify({ ...MODEL_JSON, format: undefined })}`;
    const bundle = `module.exports=${JSON.stringify(Buffer.from(SHARD).toString('base64'))}`;
    const marker = join(work, 'pwned');
    const splice = fc.record({ file: fc.constantFrom('model', 'shard'), at: fc.nat(), payload: fc.nat(payloads(marker).length - 1) });
    fc.assert(
      fc.property(fc.array(splice, { minLength: 1, maxLength: 2 }), fc.array(mutation(model.length), { maxLength: 2 }), (splices, ms) => {
        const texts = { model: mutateText(model, ms), shard: bundle };
        for (const s of splices) {
          const t = texts[s.file];
          const at = s.at % (t.length + 1);
          texts[s.file] = t.slice(0, at) + payloads(marker)[s.payload] + t.slice(at);
        }
        const { dir, check } = caseDir({ 'model.min.js': texts.model, 'group1-shard1of1.min.js': texts.shard });
        const r = loadedOrRefused(() => inspectModel(dir), BUDGET_MS);
        if (r.error) expect(r.error.kind).toBe('model');
        expect(existsSync(marker)).toBe(false);
        check();
      }),
      { numRuns: 150 },
    );
  });

  it('found by this suite: a manifest or a layer of the wrong shape is a ModelError naming where, not a TypeError', () => {
    const cases: [unknown, string][] = [
      [{ ...MODEL_JSON, weightsManifest: 0 }, 'weightsManifest: expected an array of weight groups, got 0'],
      [{ ...MODEL_JSON, weightsManifest: [{ paths: 'x', weights: [{ name: 'w', shape: [-1], dtype: 'float32' }] }] }, 'weightsManifest[0].paths: expected an array of shard file names'],
      [{ ...MODEL_JSON, weightsManifest: [{ paths: [], weights: [{ name: 'w', shape: [-1], dtype: 'float32' }] }] }, 'weightsManifest[0].weights[0].shape: expected an array of whole numbers ≥ 0, got [-1]'],
      [{ ...MODEL_JSON, modelTopology: { ...TOPOLOGY, config: { layers: [TOPOLOGY.config.layers[0], { class_name: 'Flatten' }] } } }, 'layer 1 is not {class_name, config}'],
      [
        { ...MODEL_JSON, modelTopology: { ...TOPOLOGY, config: { layers: [{ ...TOPOLOGY.config.layers[0], config: { ...TOPOLOGY.config.layers[0].config, batch_input_shape: 'x' } }] } } },
        'the input shape must be a list of positive whole numbers or null, got "x"',
      ],
      [
        { ...MODEL_JSON, modelTopology: { ...TOPOLOGY, config: { layers: [TOPOLOGY.config.layers[0], { class_name: 'ZeroPadding2D', config: { name: 'zp', padding: [[1]] } }] } } },
        "node 'zp', op ZeroPadding2D: malformed in the model file (",
      ],
      [
        { ...MODEL_JSON, modelTopology: { ...TOPOLOGY, config: { layers: [{ ...TOPOLOGY.config.layers[0], config: { ...TOPOLOGY.config.layers[0].config, padding: { a: 1 } } }] } } },
        `padding '{"a":1}' is not supported`,
      ],
      [null, 'expected a model object at the top level, got null'],
    ];
    for (const [doc, says] of cases) {
      const { dir, check } = caseDir({ 'model.json': JSON.stringify(doc), 'group1-shard1of1.bin': SHARD });
      const r = loadedOrRefused(() => inspectModel(dir), BUDGET_MS);
      expect(r.error?.kind).toBe('model');
      expect(r.error?.message, JSON.stringify(doc).slice(0, 200)).toContain(says);
      check();
    }
  });

  it('a shard path that leaves the model folder is refused, naming the path', () => {
    for (const p of ['../../../etc/hostname', '/etc/hostname']) {
      const { dir, check } = caseDir({ 'model.json': JSON.stringify({ ...MODEL_JSON, weightsManifest: [{ paths: [p], weights: WEIGHTS }] }) });
      const r = loadedOrRefused(() => inspectModel(dir), BUDGET_MS);
      expect(r.error?.kind).toBe('model');
      expect(r.error?.message).toContain(p);
      expectCleanMessage(r.error!.message);
      check();
    }
  });
});
