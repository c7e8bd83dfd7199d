/**
 * Model folders are data, never code: the `.min.js` bundles nsfwjs ships are parsed for their
 * exported literal, and a crafted folder whose bundles would write a file if executed only gets a
 * ModelError. Referee for the benign case: the same installed nsfwjs bundle evaluated by node:vm
 * here in the test (trusted npm package), compared value for value with what the parser reads.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import { readTfjsArtifacts } from '../../../nets/tfjs/artifacts.js';
import { readBundleLiteral } from '../../../nets/tfjs/bundle-literal.js';
import { nsfwjsModelDir } from '../../../nets/tfjs/nsfwjs.js';
import { qloom } from '../../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'qloom-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function evaluatedExports(file: string): unknown {
  const mod: { exports: unknown } = { exports: {} };
  vm.runInNewContext(readFileSync(file, 'utf8'), { module: mod, exports: mod.exports });
  return JSON.parse(JSON.stringify(mod.exports));
}

/** A folder whose bundles write `marker` when run (the node:vm escape the old reader allowed). */
function hostileFolder(name: string, model: string, shard?: string): { dir: string; marker: string } {
  const dir = join(work, name);
  const marker = join(work, `${name}.pwned`);
  const payload = `this.constructor.constructor('return process')().getBuiltinModule('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.min.js'), model.replaceAll('PAYLOAD', payload));
  if (shard !== undefined) writeFileSync(join(dir, 'group1-shard1of1.min.js'), shard.replaceAll('PAYLOAD', payload));
  return { dir, marker };
}
const manifest = `weightsManifest:[{paths:["group1-shard1of1.bin"],weights:[{name:"w",shape:[1],dtype:"float32"}]}]`;

describe('tfjs bundles are parsed, never executed', () => {
  it('reads exactly what the installed nsfwjs bundles export (model and a shard)', () => {
    for (const variant of ['mobilenet_v2', 'mobilenet_v2_mid'] as const) {
      const file = join(nsfwjsModelDir(variant), 'model.min.js');
      const parsed = JSON.parse(JSON.stringify(readBundleLiteral(readFileSync(file, 'utf8'), file)));
      expect(parsed).toEqual(evaluatedExports(file));
    }
    const shard = join(nsfwjsModelDir('mobilenet_v2_mid'), 'group1-shard2of2.min.js');
    expect(readBundleLiteral(readFileSync(shard, 'utf8'), shard)).toBe(evaluatedExports(shard));
  });

  it('understands minifier spellings of data: !0, !1, -x, void 0, quoted keys, templates', () => {
    const v = readBundleLiteral('!function(){}(),module.exports={a:!0,b:!1,"c-d":-1.5e3,e:void 0,f:`s`,7:[null,"x"]}', 'x.js');
    expect(JSON.parse(JSON.stringify(v))).toEqual({ a: true, b: false, 'c-d': -1500, f: 's', 7: [null, 'x'] });
  });

  const hostile: [string, string, string?][] = [
    ['iife-export', `module.exports=(function(){PAYLOAD;return {modelTopology:{}}})()`],
    ['getter', `module.exports={get modelTopology(){PAYLOAD;return {}}}`],
    ['computed-key', `module.exports={[PAYLOAD]:1,modelTopology:{}}`],
    ['call-in-value', `module.exports={modelTopology:{x:PAYLOAD}}`],
    ['two-exports', `module.exports={modelTopology:{}};module.exports={modelTopology:{a:1}};PAYLOAD`],
    ['shard', `module.exports={modelTopology:{class_name:"Sequential"},${manifest}}`, `module.exports=(()=>{PAYLOAD;return "AAAAAA=="})()`],
    ['proto-key', `module.exports={__proto__:{polluted:1},modelTopology:{}};PAYLOAD`],
  ];
  for (const [name, model, shard] of hostile) {
    it(`refuses or ignores a hostile bundle without running it: ${name}`, () => {
      const { dir, marker } = hostileFolder(name, model, shard);
      let err: unknown;
      try {
        readTfjsArtifacts(dir);
      } catch (e) {
        err = e;
      }
      expect(existsSync(marker)).toBe(false);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      if (name !== 'proto-key' && name !== 'two-exports') {
        expect(err).toBeInstanceOf(ModelError);
        expect((err as Error).message).toMatch(/never run/);
      }
    });
  }

  it('qloom inspect on a hostile folder exits 1 with a message and writes nothing', async () => {
    const { dir, marker } = hostileFolder('cli', `module.exports=(function(){PAYLOAD;return {modelTopology:{}}})()`);
    const r = await qloom('inspect', dir);
    expect(existsSync(marker)).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model\.min\.js/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
