/**
 * QAT presets: the PTQ configuration QAT starts from (the white paper §4.2 initializes QAT from
 * PTQ: per-channel symmetric weights with MSE ranges, asymmetric per-tensor activations with MSE
 * ranges, cross-entropy logits range) and the training hyperparameters.
 *
 * Learning rates measured on fmnist-cnn / fmnist-dwsep (bench/qat-vs-ptq.ts): Adam at 1e-4 on the
 * weights with cosine decay fine-tunes from the PTQ point without losing it in the first steps;
 * the scales take a tenth of it.
 */
import { ConfigError } from '../../arch/errors.js';
import { configHash, resolvePtqConfig, stableJson, type PtqConfig } from '../config.js';
import { createHash } from 'node:crypto';

export interface QatHyper {
  readonly epochs: number;
  /** peak Adam learning rate of weights and biases (cosine decay to 0) */
  readonly lr: number;
  /** peak Adam learning rate of the scales */
  readonly scaleLr: number;
  readonly batch: number;
  readonly seed: number;
  /**
   * the training forward: 'float' fake quantization (default; absent so earlier hashes hold), or
   * 'integer' — every quantized tensor's value is the integer network's (QatModel.forward `exact`),
   * the gradients the float path's
   */
  readonly forward?: 'float' | 'integer';
}

export interface QatPreset {
  /** the PTQ preset the starting point is built from (with the preset's bit widths) */
  readonly base: string;
  readonly ptq: PtqConfig;
  readonly qat: QatHyper;
}

const HYPER: QatHyper = { epochs: 1, lr: 1e-4, scaleLr: 1e-5, batch: 64, seed: 1 };

function qatPreset(name: string, wBits: number, aBits: number, adaround = false): QatPreset {
  const base = resolvePtqConfig('w4a8-pc', { wBits, aBits, ...(adaround && { adaround: true }) });
  return Object.freeze({ base: 'w4a8-pc', ptq: Object.freeze({ ...base, preset: name }), qat: HYPER });
}

/** The named QAT presets (`qloom qat --preset`). */
export const QAT_PRESETS: Readonly<Record<string, QatPreset>> = Object.freeze({
  'w8a8-qat': qatPreset('w8a8-qat', 8, 8),
  'w4a8-qat': qatPreset('w4a8-qat', 4, 8),
  'w4a4-qat': qatPreset('w4a4-qat', 4, 4),
  'w3a3-qat': qatPreset('w3a3-qat', 3, 3),
  'w2a4-qat': qatPreset('w2a4-qat', 2, 4),
  // QAT from the best PTQ point: the weights AdaRound rounded to (its codes dequantized) as the start
  'w4a4-ada-qat': qatPreset('w4a4-ada-qat', 4, 4, true),
  'w3a3-ada-qat': qatPreset('w3a3-ada-qat', 3, 3, true),
});

/** PTQ config fields QAT cannot keep (what it would train is not what they build). */
export function qatConfigProblems(cfg: PtqConfig): string[] {
  const out: string[] = [];
  if (cfg.format) out.push(`format: number format '${cfg.format.element}' has no fake quantizer in QAT (integer grids only)`);
  if (cfg.repq) out.push('repq: RepQ-ViT reparameterization is not trained');
  if (cfg.softmaxQuant && cfg.softmaxQuant !== 'uniform') out.push(`softmaxQuant: '${cfg.softmaxQuant}' is not trained`);
  if (cfg.splitConcat) out.push('splitConcat: split concatenations are not trained');
  if (cfg.postLnPerChannel) out.push('postLnPerChannel: per-channel post-LN quantizers are not trained');
  if (cfg.weights.pow2 || cfg.activations.pow2) out.push('pow2: power-of-two scales cannot be learned by LSQ');
  return out;
}

/**
 * A QAT preset or any PTQ preset (then with the default hyperparameters), with overrides;
 * every problem in one ConfigError.
 */
export function resolveQatPreset(name: string, over: Partial<QatHyper> = {}, ptqOver?: PtqConfig): QatPreset {
  const problems: { path: string; message: string }[] = [];
  const known = QAT_PRESETS[name];
  let ptq: PtqConfig | undefined = ptqOver ?? known?.ptq;
  if (!ptq) {
    try {
      ptq = resolvePtqConfig(name);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push({ path: 'preset', message: `unknown preset '${name}' (QAT presets: ${Object.keys(QAT_PRESETS).join(', ')}; or any PTQ preset)` });
    }
  }
  const qat: QatHyper = { ...(known?.qat ?? HYPER), ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) };
  if (ptq) for (const m of qatConfigProblems(ptq)) problems.push({ path: m.slice(0, m.indexOf(':')), message: m.slice(m.indexOf(':') + 2) });
  if (!Number.isInteger(qat.epochs) || qat.epochs < 1) problems.push({ path: 'epochs', message: `must be a positive integer, got ${String(qat.epochs)}` });
  if (!(qat.lr > 0) || !Number.isFinite(qat.lr)) problems.push({ path: 'lr', message: `must be a finite number > 0, got ${String(qat.lr)}` });
  if (!(qat.scaleLr >= 0) || !Number.isFinite(qat.scaleLr)) problems.push({ path: 'scaleLr', message: `must be a finite number ≥ 0, got ${String(qat.scaleLr)}` });
  if (!Number.isInteger(qat.batch) || qat.batch < 1) problems.push({ path: 'batch', message: `must be a positive integer, got ${String(qat.batch)}` });
  if (qat.forward !== undefined && qat.forward !== 'float' && qat.forward !== 'integer') problems.push({ path: 'forward', message: `must be float or integer, got ${String(qat.forward)}` });
  if (!Number.isInteger(qat.seed) || qat.seed < 0) problems.push({ path: 'seed', message: `must be a non-negative integer, got ${String(qat.seed)}` });
  if (problems.length) throw new ConfigError(problems, 'QAT preset');
  // the default forward is left out, so a config hash does not depend on spelling it
  const { forward, ...rest } = qat;
  return Object.freeze({ base: known?.base ?? name, ptq: ptq!, qat: Object.freeze(forward === 'integer' ? { ...rest, forward } : rest) });
}

/** sha256 of everything a QAT result depends on besides the model and data. */
export function qatHash(p: QatPreset): string {
  return createHash('sha256').update(stableJson({ ptq: configHash(p.ptq), qat: p.qat })).digest('hex');
}
