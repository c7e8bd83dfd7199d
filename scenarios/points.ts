/**
 * A scenario's sweep points: networks × archs × ptq × axes (the last axis fastest), each a frozen
 * `PointConfig` identified by `configHash` = sha256 of the canonical JSON of {codeVersion, config}.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Problem } from '../arch/errors.js';
import { type ArchSpec, validateArchSpec } from '../arch/spec.js';
import { canonicalJson, deepFreeze, sha256 } from '../arch/validate.js';
import { listModels, type EvalDataset } from '../nets/zoo/index.js';
import { applyArchAxes } from './axes.js';
import { checkPtqSettings, resolvePtq } from './ptq.js';
import type { Axis, JsonValue, Point, PointConfig, Scenario } from './scenario.js';

/** the folders a point's numbers come from: a change to any of their files is a new code version */
const CODE_FOLDERS = ['nets', 'qnet', 'quant', 'sim', 'arch', 'scenarios'] as const;

let codeVersionMemo: string | undefined;

/**
 * Part of every configHash: a point cached by other code is not reused. The fingerprint covers
 * every source and model file of CODE_FOLDERS — the TypeScript sources, or the compiled JavaScript
 * of an installed package — so a change to a kernel, a pass or the engine invalidates the cache by
 * itself. Computed on first use (a sweep's points, a results file), once per thread.
 */
export function codeVersion(): string {
  codeVersionMemo ??= fingerprint();
  return codeVersionMemo;
}

function fingerprint(): string {
  // the folder holding scenarios/ (the checkout, or an installed package's dist/), and the package.json above it
  const root = fileURLToPath(new URL('..', import.meta.url));
  let pkgDir = root;
  while (!existsSync(join(pkgDir, 'package.json')) && dirname(pkgDir) !== pkgDir) pkgDir = dirname(pkgDir);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js|mjs|json|onnx|yaml)$/.test(e.name)) files.push(p);
    }
  };
  for (const d of CODE_FOLDERS) if (existsSync(join(root, d))) walk(join(root, d));
  files.sort();
  const h = createHash('sha256');
  for (const f of files) h.update(f.slice(root.length)).update('\0').update(readFileSync(f)).update('\0');
  return `qloom@${pkg.version}/${h.digest('hex').slice(0, 16)}`;
}

function cartesian(axes: readonly Axis[]): JsonValue[][] {
  let combos: JsonValue[][] = [[]];
  for (const a of axes) combos = combos.flatMap((c) => a.values.map((v) => [...c, v]));
  return combos;
}

/** sha256 of the canonical JSON of a point config and the code version. */
export function configHash(config: PointConfig): string {
  return sha256(canonicalJson({ codeVersion: codeVersion(), config }));
}

/**
 * The frozen point configs of a scenario, in expansion order; every arch and PTQ problem a point
 * brings goes to `problems` (such points are left out).
 */
export function expandConfigs(s: Scenario, datasetOf: ReadonlyMap<string, EvalDataset>, problems: Problem[]): PointConfig[] {
  const combos = cartesian(s.axes);
  const archCache = new Map<string, ArchSpec | null>();
  const ptqChecked = new Set<string>();
  const configs: PointConfig[] = [];
  for (const network of s.networks) {
    const dataset = s.data.dataset === 'auto' ? datasetOf.get(network)! : s.data.dataset;
    for (let ai = 0; ai < s.archs.length; ai++) {
      const archEntry = s.archs[ai];
      for (const ptqEntry of s.ptq) {
        for (const combo of combos) {
          const axisValues: Record<string, JsonValue> = {};
          const archValues: [string, JsonValue][] = [];
          const ptqValues: Record<string, JsonValue> = {};
          s.axes.forEach((a, i) => {
            axisValues[a.path] = combo[i];
            if (a.path.startsWith('ptq.')) ptqValues[a.path.slice(4)] = combo[i];
            else archValues.push([a.path, combo[i]]);
          });
          const input = applyArchAxes(archEntry, archValues);
          const key = canonicalJson(input);
          let arch = archCache.get(key);
          if (arch === undefined) {
            try {
              arch = validateArchSpec(input, s.source ?? undefined);
            } catch (e) {
              if (!(e instanceof ConfigError)) throw e;
              const at = archValues.length ? ` with ${archValues.map(([p, v]) => `${p}=${JSON.stringify(v)}`).join(', ')}` : '';
              for (const p of e.problems) problems.push({ path: `archs[${ai}]${p.path ? `.${p.path}` : ''}`, message: `${p.message} (${archEntry.label}${at})` });
              arch = null;
            }
            archCache.set(key, arch);
          }
          if (arch === null) continue;
          const ptq = resolvePtq(ptqEntry, ptqValues);
          const ptqKey = canonicalJson(ptq);
          if (!ptqChecked.has(ptqKey)) {
            ptqChecked.add(ptqKey);
            const before = problems.length;
            checkPtqSettings(ptq, s.seed, `ptq[${s.ptq.indexOf(ptqEntry)}]`, problems);
            const at = Object.keys(ptqValues).length ? ` with ${Object.entries(ptqValues).map(([p, v]) => `ptq.${p}=${JSON.stringify(v)}`).join(', ')}` : '';
            for (let i = before; i < problems.length; i++) problems[i] = { ...problems[i], message: `${problems[i].message} (${ptqEntry.label}${at})` };
          }
          const config: PointConfig = {
            scenario: s.name,
            runner: s.runner,
            seed: s.seed,
            network,
            dataset,
            samples: s.data.samplesByNetwork[network] ?? s.data.samples,
            archLabel: archEntry.label,
            arch,
            ptqLabel: ptqEntry.label,
            ptq,
            axes: axisValues,
            metrics: s.metrics,
          };
          configs.push(deepFreeze(config));
        }
      }
    }
  }
  return configs;
}

/** The sweep points of a validated scenario: networks × archs × ptq × axes (last fastest). */
export function expandPoints(s: Scenario): Point[] {
  const datasetOf = new Map(listModels().map((m) => [m.name, m.dataset] as const));
  const problems: Problem[] = [];
  const configs = expandConfigs(s, datasetOf, problems);
  if (problems.length > 0) throw new ConfigError(problems, s.source ?? undefined);
  return configs.map((config, index) => Object.freeze({ index, configHash: configHash(config), config }));
}