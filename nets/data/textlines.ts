/**
 * Rendered text lines: real fonts from Debian packages drawn by Skia (npm `@napi-rs/canvas`, whose
 * platform binary ships inside the registry package: nothing is downloaded at run time), words
 * from Debian `wamerican`. This is the renderer; data sets built on it (`orientation.ts`) decide
 * what to draw from a seeded PRNG and keep every choice in a `TextLineStyle`, so a line is a pure
 * function of its style.
 *
 * Determinism: the same style gives the same bytes in one process and, with the same font files
 * and package version, on the same machine. Skia picks SIMD raster paths per CPU, so antialiased
 * edges may differ by a grey level between CPUs; what is pinned across machines is the style
 * (text, face, size, colours, margins, noise seed), not the pixels.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DatasetError } from '../errors.js';
import { Prng } from '../prng.js';
import type { DecodedImage } from './photos.js';

type CanvasModule = typeof import('@napi-rs/canvas');
type Context2D = ReturnType<ReturnType<CanvasModule['createCanvas']>['getContext']>;

export interface FontFace {
  /** family alias the face is registered under (unique, so no system font can answer for it) */
  readonly id: string;
  readonly file: string;
  /** the Debian package that installs `file` */
  readonly pkg: string;
}

const DEJAVU = '/usr/share/fonts/truetype/dejavu';
const LIBERATION = '/usr/share/fonts/truetype/liberation2';
const NOTO = '/usr/share/fonts/truetype/noto';

function faces(pkg: string, dir: string, files: readonly string[]): FontFace[] {
  return files.map((f) => ({ id: `qloom-${f.replace(/\.ttf$/, '')}`, file: `${dir}/${f}`, pkg }));
}

/** Sans, serif and mono faces, upright, bold and italic, of three font families (16 faces). */
export const FONT_FACES: readonly FontFace[] = Object.freeze([
  ...faces('fonts-dejavu-core', DEJAVU, ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSerif.ttf', 'DejaVuSerif-Bold.ttf', 'DejaVuSansMono.ttf']),
  ...faces('fonts-liberation2', LIBERATION, [
    'LiberationSans-Regular.ttf',
    'LiberationSans-Bold.ttf',
    'LiberationSans-Italic.ttf',
    'LiberationSerif-Regular.ttf',
    'LiberationSerif-Italic.ttf',
    'LiberationMono-Regular.ttf',
  ]),
  ...faces('fonts-noto-core', NOTO, ['NotoSans-Regular.ttf', 'NotoSans-Bold.ttf', 'NotoSans-Italic.ttf', 'NotoSerif-Regular.ttf', 'NotoSerif-BoldItalic.ttf']),
]);

/** wamerican's list itself, not the /usr/share/dict/words alternative another dictionary may take over */
export const WORDS_FILE = '/usr/share/dict/american-english';
const WORDS_PKG = 'wamerican';

let canvasModule: CanvasModule | undefined;
let measureCtx: Context2D | undefined;
let registered = false;

/** The Skia binding, loaded on first use (its native library is ~20 MB; most runs never draw). */
function canvas(): CanvasModule {
  if (!canvasModule) {
    try {
      canvasModule = createRequire(import.meta.url)('@napi-rs/canvas') as CanvasModule;
    } catch (e) {
      throw new DatasetError(`text rendering needs the npm package @napi-rs/canvas and its platform binary (run npm ci): ${(e as Error).message}`);
    }
  }
  return canvasModule;
}

/**
 * Registers every face of FONT_FACES with Skia (once per process). A missing or unreadable font is
 * a DatasetError naming every missing file and the Debian packages to install.
 */
export function registerFonts(): void {
  if (registered) return;
  checkFonts(FONT_FACES);
  const { GlobalFonts } = canvas();
  const failed = FONT_FACES.filter((f) => GlobalFonts.registerFromPath(f.file, f.id) === null);
  if (failed.length) throw new DatasetError(missingMessage('unreadable font files', failed));
  registered = true;
}

/** DatasetError naming every missing file of `faces` and the Debian packages that install them. */
export function checkFonts(faces: readonly FontFace[]): void {
  const missing = faces.filter((f) => !existsSync(f.file));
  if (missing.length) throw new DatasetError(missingMessage('missing font files', missing));
}

function missingMessage(what: string, list: readonly FontFace[]): string {
  const pkgs = [...new Set(list.map((f) => f.pkg))];
  return `${what}: ${list.map((f) => f.file).join(', ')}; install the Debian package(s) ${pkgs.join(' ')}: apt-get install -y ${pkgs.join(' ')}`;
}

let wordCache: readonly string[] | undefined;
let entryCache: readonly string[] | undefined;

/**
 * Every entry of wamerican's list (possessives, accented words and all), in file order; DatasetError
 * naming the package when the list is missing.
 */
export function loadWordEntries(file: string = WORDS_FILE): readonly string[] {
  if (file === WORDS_FILE && entryCache) return entryCache;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DatasetError(
      `word list ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); install the Debian package ${WORDS_PKG}: apt-get install -y ${WORDS_PKG}`,
    );
  }
  const entries = Object.freeze(text.split('\n').filter((w) => w.length > 0));
  if (file === WORDS_FILE) entryCache = entries;
  return entries;
}

/**
 * The words of wamerican made only of ASCII letters, 2–14 long (possessives, accented and one-letter
 * entries dropped), in file order. DatasetError naming the package when the list is missing.
 */
export function loadWords(file: string = WORDS_FILE): readonly string[] {
  if (file === WORDS_FILE && wordCache) return wordCache;
  const words = Object.freeze(loadWordEntries(file).filter((w) => /^[A-Za-z]{2,14}$/.test(w)));
  if (words.length < 10_000) throw new DatasetError(`word list ${file} has only ${words.length} usable words; reinstall the Debian package ${WORDS_PKG}`);
  if (file === WORDS_FILE) wordCache = words;
  return words;
}

export type Rgb = readonly [number, number, number];

/** Every choice that makes one rendered line; the image is a pure function of it. */
export interface TextLineStyle {
  readonly text: string;
  /** index into FONT_FACES */
  readonly face: number;
  /** font size in pixels */
  readonly fontPx: number;
  readonly ink: Rgb;
  readonly paper: Rgb;
  /** margins in pixels around the font's box (advance width × ascent + descent) */
  readonly padLeft: number;
  readonly padRight: number;
  readonly padTop: number;
  readonly padBottom: number;
  /** rotation of the text about the image centre, degrees (a slightly skewed crop) */
  readonly tiltDeg: number;
  /** standard deviation of the additive Gaussian pixel noise, grey levels */
  readonly noise: number;
  /** seed of the noise stream */
  readonly noiseSeed: number;
  /** standard deviation of a Gaussian blur applied before the noise, pixels (default none) */
  readonly blurPx?: number;
}

function measure(): Context2D {
  measureCtx ??= canvas().createCanvas(1, 1).getContext('2d');
  return measureCtx;
}

function fontSpec(style: Pick<TextLineStyle, 'face' | 'fontPx'>): string {
  const face = FONT_FACES[style.face];
  if (!face) throw new RangeError(`font face ${style.face} outside 0…${FONT_FACES.length - 1}`);
  return `${style.fontPx}px "${face.id}"`;
}

type LayoutStyle = Pick<TextLineStyle, 'text' | 'face' | 'fontPx' | 'padLeft' | 'padRight' | 'padTop' | 'padBottom'>;

/** The canvas size of a line (the font's box, advance width × ascent + descent, plus margins). */
function layout(style: LayoutStyle): { font: string; ascent: number; width: number; height: number } {
  registerFonts();
  const font = fontSpec(style);
  const m = measure();
  m.font = font;
  const metrics = m.measureText(style.text);
  const ascent = metrics.fontBoundingBoxAscent;
  const width = Math.max(1, Math.ceil(style.padLeft + metrics.width + style.padRight));
  const height = Math.max(1, Math.ceil(style.padTop + ascent + metrics.fontBoundingBoxDescent + style.padBottom));
  return { font, ascent, width, height };
}

/** Width and height in pixels `renderTextLine` gives `style`, without drawing it. */
export function textLineSize(style: LayoutStyle): { width: number; height: number } {
  const { width, height } = layout(style);
  return { width, height };
}

/** Renders one line as 8-bit RGB (HWC), upright. */
export function renderTextLine(style: TextLineStyle): DecodedImage {
  const { font, ascent, width, height } = layout(style);
  const cv = canvas().createCanvas(width, height);
  const ctx = cv.getContext('2d');
  ctx.fillStyle = rgbCss(style.paper);
  ctx.fillRect(0, 0, width, height);
  ctx.translate(width / 2, height / 2);
  ctx.rotate((style.tiltDeg * Math.PI) / 180);
  ctx.translate(-width / 2, -height / 2);
  ctx.font = font;
  ctx.fillStyle = rgbCss(style.ink);
  ctx.fillText(style.text, style.padLeft, style.padTop + ascent);
  const rgba: ArrayLike<number> = ctx.getImageData(0, 0, width, height).data;
  const blurred = style.blurPx !== undefined && style.blurPx > 0 ? blurRgba(rgba, width, height, style.blurPx) : rgba;
  const data = new Uint8Array(width * height * 3);
  const rng = new Prng(style.noiseSeed);
  for (let p = 0, q = 0; p < data.length; p += 3, q += 4) {
    for (let c = 0; c < 3; c++) {
      const v = style.noise > 0 ? blurred[q + c] + style.noise * rng.normal() : blurred[q + c];
      data[p + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return { width, height, data };
}

/**
 * Separable Gaussian blur of an RGBA image's colour channels (alpha left as is), kernel radius
 * ⌈3σ⌉, edges clamped (a scan's defocus; the border repeats the paper): float64 out, same layout.
 */
export function blurRgba(rgba: ArrayLike<number>, width: number, height: number, sigmaPx: number): Float64Array {
  const r = Math.ceil(3 * sigmaPx);
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigmaPx * sigmaPx));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const tmp = new Float64Array(width * height * 4);
  const out = new Float64Array(width * height * 4);
  blurPass(rgba, tmp, height, width, width * 4, 4, k);
  blurPass(tmp, out, width, height, 4, width * 4, k);
  return out;
}

/** One 1-D pass of `k` along `lines` lines of `len` pixels (`step` apart, lines `lineStride` apart). */
function blurPass(src: ArrayLike<number>, dst: Float64Array, lines: number, len: number, lineStride: number, step: number, k: Float64Array): void {
  const r = (k.length - 1) / 2;
  for (let l = 0; l < lines; l++) {
    const base = l * lineStride;
    for (let p = 0; p < len; p++) {
      const o = base + p * step;
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) {
          const q = p + i < 0 ? 0 : p + i >= len ? len - 1 : p + i;
          acc += k[i + r] * src[base + q * step + c];
        }
        dst[o + c] = acc;
      }
      dst[o + 3] = src[o + 3];
    }
  }
}


function rgbCss(c: Rgb): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** The image turned by 180° (cv2.rotate ROTATE_180): pixel (y, x) goes to (H−1−y, W−1−x). */
export function rotate180(img: DecodedImage): DecodedImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const s = p * 3;
    const d = (n - 1 - p) * 3;
    out[d] = img.data[s];
    out[d + 1] = img.data[s + 1];
    out[d + 2] = img.data[s + 2];
  }
  return { width: img.width, height: img.height, data: out };
}

/**
 * PNG of images laid out in a grid (`columns` wide, each cell as large as the largest image, a
 * caption under each) on white: for a person to look at a data set.
 */
export function contactSheet(images: readonly DecodedImage[], captions: readonly string[], columns: number): Uint8Array {
  const { createCanvas, ImageData } = canvas();
  registerFonts();
  const cellW = Math.max(...images.map((i) => i.width)) + 16;
  const cellH = Math.max(...images.map((i) => i.height)) + 30;
  const rows = Math.ceil(images.length / columns);
  const cv = createCanvas(cellW * columns, cellH * rows);
  const ctx = cv.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, cv.width, cv.height);
  ctx.font = `12px "${FONT_FACES[0].id}"`;
  images.forEach((img, i) => {
    const x = (i % columns) * cellW + 8;
    const y = Math.floor(i / columns) * cellH + 4;
    const rgba = new Uint8ClampedArray(img.width * img.height * 4);
    for (let p = 0; p < img.width * img.height; p++) {
      rgba.set(img.data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 255;
    }
    ctx.putImageData(new ImageData(rgba, img.width, img.height), x, y);
    ctx.strokeStyle = '#c0c0c0';
    ctx.strokeRect(x - 0.5, y - 0.5, img.width + 1, img.height + 1);
    ctx.fillStyle = '#000000';
    ctx.fillText(captions[i] ?? '', x, y + img.height + 16);
  });
  return new Uint8Array(cv.encodeSync('png'));
}

/**
 * Texts that occur in both splits of a rendered data set whose sample `i` of a split has text
 * `textOf(split, i)`: the check that the splits share no line.
 */
export function sharedTexts(sizes: Readonly<Record<'train' | 'test', number>>, textOf: (split: 'train' | 'test', index: number) => string): string[] {
  const train = new Set(Array.from({ length: sizes.train }, (_, i) => textOf('train', i)));
  const shared = new Set<string>();
  for (let i = 0; i < sizes.test; i++) {
    const t = textOf('test', i);
    if (train.has(t)) shared.add(t);
  }
  return [...shared];
}
