/**
 * tf.Variables keyed `${layer}/${key}` ⇄ TrainedWeights (`weights[layer][key]`): the one mapping the
 * hand-written tfjs models (vit-tfjs.ts, ddpm-tfjs.ts) share for loading and exporting weights.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { TrainedWeights, WeightArray } from './models.js';
import type { Tf } from './tfjs-models.js';

/** Sets every variable from `w`; a missing or mis-shaped tensor is an error naming it. */
export function loadVariables(tf: Tf, vars: ReadonlyMap<string, TfCore.Variable>, w: TrainedWeights, model: string): void {
  for (const [name, v] of vars) {
    const cut = name.lastIndexOf('/');
    const t = w[name.slice(0, cut)]?.[name.slice(cut + 1)];
    if (!t || t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) throw new Error(`${model}: the weights to load lack ${name} [${v.shape.join(',')}]`);
    v.assign(tf.tensor(t.data, v.shape));
  }
}

/** Every variable's current value, as TrainedWeights. */
export async function readVariables(vars: ReadonlyMap<string, TfCore.Tensor>): Promise<TrainedWeights> {
  const out: Record<string, Record<string, WeightArray>> = {};
  for (const [name, t] of vars) {
    const cut = name.lastIndexOf('/');
    (out[name.slice(0, cut)] ??= {})[name.slice(cut + 1)] = { shape: [...t.shape], data: (await t.data()) as Float32Array };
  }
  return out;
}
