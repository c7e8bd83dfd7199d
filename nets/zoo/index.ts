/**
 * The model zoo: bundled models trained in this repo (ONNX files beside this file, described by
 * manifest.json) and real pretrained models loaded from npm packages in node_modules, never copied.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join, resolve } from 'node:path';
import { ModelError } from '../errors.js';
import type { Graph } from '../graph.js';
import { loadOnnx } from '../onnx/import.js';
import { loadTfjsModel } from '../tfjs/import.js';
import { listModels, NPM_MODELS, readDiffusionManifest, ZOO_DIR, type InputBinding, type ZooEntry } from './catalog.js';

export { listModels, readDiffusionManifest, readManifest, ZOO_DIR, type DiffusionEntry, type EvalDataset, type ManifestEntry, type ZooEntry } from './catalog.js';

/** Directory of an installed npm package, found the way Node's resolver walks node_modules. */
export function packageDir(pkg: string): string {
  const req = createRequire(import.meta.url);
  for (const base of req.resolve.paths(pkg) ?? []) {
    const dir = join(base, pkg);
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new ModelError(`npm package '${pkg}' is not installed (run npm ci in the qloom folder)`);
}

export interface LoadedModel {
  graph: Graph;
  /** where it was read from */
  source: string;
  entry?: ZooEntry;
}

export interface LoadOptions {
  /** input width for zoo models whose file leaves it dynamic (ppocr-rec; default: the catalog's) */
  width?: number;
}

/** A zoo name, an .onnx file, or a tfjs model directory. */
export function loadModel(nameOrPath: string, opts: LoadOptions = {}): LoadedModel {
  const entry = listModels().find((e) => e.name === nameOrPath);
  const npm = entry && NPM_MODELS.find((m) => m.name === entry.name);
  if (entry && opts.width !== undefined && !npm?.bind) throw widthRefused(`'${nameOrPath}' has a fixed input size`);
  if (entry) {
    const source = npm ? join(packageDir(npm.pkg), npm.path) : join(ZOO_DIR, entry.manifest!.file);
    if (!npm?.bind) return { graph: loadFile(source), source, entry };
    return { graph: loadBound(entry.name, source, npm.bind, opts.width), source, entry };
  }
  const diffusion = readDiffusionManifest()[nameOrPath];
  if (diffusion) {
    if (opts.width !== undefined) throw widthRefused(`'${nameOrPath}' has a fixed input size`);
    const source = join(ZOO_DIR, diffusion.file);
    return { graph: loadFile(source), source };
  }
  const path = resolve(nameOrPath);
  if (!existsSync(path)) {
    const names = listModels().map((e) => e.name).join(', ');
    throw new ModelError(`'${nameOrPath}' is neither a model name (${names}) nor an existing file`);
  }
  // a zoo model's own file, named by its path, is imported as the zoo imports it
  const zoo = NPM_MODELS.find((m) => m.bind && sameFile(path, m.pkg, m.path));
  if (zoo?.bind) return { graph: loadBound(zoo.name, path, zoo.bind, opts.width), source: path };
  if (opts.width !== undefined) throw widthRefused(path);
  return { graph: loadFile(path), source: path };
}

function widthRefused(what: string): ModelError {
  return new ModelError(`${what}: a width applies to ${NPM_MODELS.filter((m) => m.bind).map((m) => m.name).join(', ')} only`);
}

function sameFile(path: string, pkg: string, rel: string): boolean {
  try {
    return realpathSync(path) === realpathSync(join(packageDir(pkg), rel));
  } catch {
    return false;
  }
}

/** An ONNX file with one input's dynamic dims bound (its width from `width`, else the catalog's). */
function loadBound(name: string, source: string, bind: InputBinding, width: number | undefined): Graph {
  const w = width ?? bind.shape[bind.widthAxis];
  if (!Number.isSafeInteger(w) || w < 1) throw new ModelError(`${name}: width must be a positive integer, got ${w}`);
  const shape = bind.shape.map((d, i) => (i === bind.widthAxis ? w : d));
  return loadOnnx(source, { inputShapes: new Map([[bind.input, shape]]) });
}

function loadFile(path: string): Graph {
  if (statSync(path).isDirectory()) return loadTfjsModel(path);
  if (extname(path).toLowerCase() === '.onnx') return loadOnnx(path);
  throw new ModelError(`${path}: not an .onnx file or a tfjs model directory`);
}
