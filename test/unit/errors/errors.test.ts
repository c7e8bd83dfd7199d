/**
 * The one error hierarchy (errors/index.ts): every kind is a QloomError the CLI maps by `kind`, the
 * messages list every problem, and an error thrown in a sweep worker comes back with its kind.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError as ArchConfigError } from '../../../arch/errors.js';
import { ConfigError, DatasetError, ERROR_KINDS, errorOfKind, InvariantError, ModelError, QloomError, ResourceError, systemError, UsageError } from '../../../errors/index.js';
import { ModelError as NetsModelError } from '../../../nets/errors.js';
import { validateScenario } from '../../../scenarios/scenario.js';
import { runSweep } from '../../../scenarios/sweep.js';

const ROOT = resolve(import.meta.dirname, '../../..');

describe('error hierarchy', () => {
  it('every kind is a QloomError with its kind and name; the folders re-export the same classes', () => {
    const cases: [QloomError, string, string][] = [
      [new UsageError('u'), 'usage', 'UsageError'],
      [new ConfigError('c'), 'config', 'ConfigError'],
      [new ModelError('m'), 'model', 'ModelError'],
      [new DatasetError('d'), 'data', 'DatasetError'],
      [new ResourceError('r'), 'resource', 'ResourceError'],
      [new InvariantError('i'), 'invariant', 'InvariantError'],
    ];
    for (const [e, kind, name] of cases) {
      expect(e).toBeInstanceOf(QloomError);
      expect(e).toBeInstanceOf(Error);
      expect(e.kind).toBe(kind);
      expect(e.name).toBe(name);
    }
    expect(ArchConfigError).toBe(ConfigError);
    expect(NetsModelError).toBe(ModelError);
  });

  it('ConfigError and ModelError list every problem, with the source first', () => {
    const c = new ConfigError([{ path: 'array.rows', message: 'must be ≥ 1' }, { path: '', message: 'no name' }], 'mine.yaml');
    expect(c.message).toBe('mine.yaml: 2 problems:\n  - array.rows: must be ≥ 1\n  - no name');
    expect(c.problems).toEqual([{ path: 'array.rows', message: 'must be ≥ 1' }, { path: '', message: 'no name' }]);
    expect(new ConfigError('bad', 'x.cfg').message).toBe('x.cfg: bad');
    const m = new ModelError([{ node: 'conv1', op: 'Conv', opset: 13, message: 'no weights' }], 'm.onnx');
    expect(m.message).toBe("m.onnx: node 'conv1', op Conv, opset 13: no weights");
  });

  it('systemError: a failed file-system call or allocation becomes one line naming the path; anything else is not one', () => {
    const sys = (code: string, syscall: string, path?: string) => Object.assign(new Error(`${code}: whatever, ${syscall}`), { code, syscall, ...(path ? { path } : {}) });
    expect(systemError(sys('ENOENT', 'open', 'in/x.json'))?.message).toBe('cannot open in/x.json: no such file or folder (ENOENT)');
    expect(systemError(sys('ENOSPC', 'write'))?.message).toBe('cannot write: no space left on the device (ENOSPC)');
    // a rename's temp file is not what the user named: the caller says which file it was
    const renamed = systemError(sys('EISDIR', 'rename', 'out/r.json.12.1.tmp'), 'out/r.json', 'cannot write');
    expect(renamed).toBeInstanceOf(ResourceError);
    expect(renamed?.kind).toBe('resource');
    expect(renamed?.message).toBe('cannot write out/r.json: it is a folder (EISDIR)');
    for (const code of ['EACCES', 'EEXIST', 'ENOTDIR', 'EROFS']) expect(systemError(sys(code, 'mkdir', 'd'))?.message).toMatch(new RegExp(`^cannot create the folder d: [a-z].* \\(${code}\\)$`));
    expect(systemError(new RangeError('Array buffer allocation failed'))?.message).toMatch(/^not enough memory: Array buffer allocation failed/);
    expect(systemError(new RangeError('Invalid typed array length: 1e+21'))?.kind).toBe('resource');
    // a bug stays a bug: a plain error, a RangeError of another kind, a thrown string
    expect(systemError(new TypeError("cannot read properties of undefined (reading 'x')"))).toBeUndefined();
    expect(systemError(new RangeError('Maximum call stack size exceeded'))).toBeUndefined();
    expect(systemError('text')).toBeUndefined();
    const q = new ConfigError('c');
    expect(systemError(q)).toBe(q);
  });

  it('errorOfKind rebuilds each kind from a message', () => {
    for (const kind of ERROR_KINDS) {
      const e = errorOfKind(kind, `a ${kind} problem`);
      expect(e.kind).toBe(kind);
      expect(e.message).toBe(`a ${kind} problem`);
    }
  });

  it('a ConfigError thrown in a sweep worker is re-thrown as a ConfigError naming the point', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-errors-'));
    const runner = join(dir, 'bad-runner.mts');
    writeFileSync(runner, `import { ConfigError } from '${join(ROOT, 'errors/index.ts')}';\nexport function runPoint() { throw new ConfigError('this point cannot run', 'bad.cfg'); }\n`);
    const s = validateScenario({ name: 'bad', seed: 1, runner, networks: ['fmnist-cnn'], archs: ['edge-npu'], metrics: ['cycles'] });
    const err = await runSweep(s, { outDir: join(dir, 'out'), workers: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).kind).toBe('config');
    expect((err as Error).message).toMatch(/^sweep point #0 \(fmnist-cnn on edge-npu, .*\): bad\.cfg: this point cannot run$/);
  });

  it('a JavaScript runner loads in a worker without tsx; its errors keep their kind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qloom-errors-'));
    const runner = join(dir, 'runner.mjs');
    // no TypeScript anywhere: the worker must not need tsx; an error with a kind keeps it
    writeFileSync(runner, `export function runPoint(c) { if (c.arch.name === 'mcu-npu') throw Object.assign(new Error('no data here'), { name: 'DatasetError', kind: 'data' }); return { cycles: c.seed }; }\n`);
    const ok = validateScenario({ name: 'js', seed: 7, runner, networks: ['fmnist-cnn'], archs: ['edge-npu'], metrics: ['cycles'] });
    const out = await runSweep(ok, { outDir: join(dir, 'ok'), workers: 1 });
    expect(out.results.map((r) => r.metrics)).toEqual([{ cycles: 7 }]);
    const bad = validateScenario({ name: 'js', seed: 7, runner, networks: ['fmnist-cnn'], archs: ['mcu-npu'], metrics: ['cycles'] });
    const err = await runSweep(bad, { outDir: join(dir, 'bad'), workers: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toContain('no data here');
  });
});
