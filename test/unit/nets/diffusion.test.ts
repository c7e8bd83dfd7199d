/**
 * The DDIM sampler against denoisers whose right answer is known in closed form: data that is one
 * point x* (the ideal ε-predictor is (x − √ᾱ·x*)/√(1−ᾱ), and deterministic DDIM must land on x*
 * from any start), and the visited timesteps worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { ddimTimesteps, sampleDdim, toPixels } from '../../../nets/diffusion.js';

function linearSchedule(T: number): Float64Array {
  const ab = new Float64Array(T);
  let a = 1;
  for (let t = 0; t < T; t++) {
    a *= 1 - (1e-4 + ((0.02 - 1e-4) * t) / (T - 1));
    ab[t] = a;
  }
  return ab;
}

describe('DDIM', () => {
  it('visits ⌊i·T/S⌋ from the largest down', () => {
    expect(ddimTimesteps(1000, 4)).toEqual([750, 500, 250, 0]);
    expect(ddimTimesteps(10, 3)).toEqual([6, 3, 0]);
    expect(() => ddimTimesteps(1000, 0)).toThrow(/1…1000/);
  });

  it.each([1, 7, 50])('with the ideal denoiser of one-point data lands on the point (%i steps)', (steps) => {
    const alphaBar = linearSchedule(1000);
    const target = Float32Array.from([0.25, -0.5, 0.9, -1, 1, 0]);
    const per = target.length;
    const calls: number[] = [];
    const out = sampleDdim(
      (x, t, n) => {
        calls.push(t);
        const e = new Float32Array(x.length);
        for (let i = 0; i < n * per; i++) e[i] = (x[i] - Math.sqrt(alphaBar[t]) * target[i % per]) / Math.sqrt(1 - alphaBar[t]);
        return e;
      },
      { alphaBar, steps, count: 5, per, seed: 4, batch: 2 },
    );
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(target[i % per], 5);
    // 3 batches × steps calls, each batch visiting the same timesteps
    expect(calls.length).toBe(3 * steps);
    expect(calls.slice(0, steps)).toEqual(ddimTimesteps(1000, steps));
  });

  it('is deterministic in the seed and maps [−1, 1] to pixels', () => {
    const alphaBar = linearSchedule(100);
    const zero = (x: Float32Array) => new Float32Array(x.length);
    const a = sampleDdim(zero, { alphaBar, steps: 5, count: 3, per: 4, seed: 1 });
    const b = sampleDdim(zero, { alphaBar, steps: 5, count: 3, per: 4, seed: 1 });
    const c = sampleDdim(zero, { alphaBar, steps: 5, count: 3, per: 4, seed: 2 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(Array.from(toPixels(Float32Array.from([-2, -1, 0, 0.5, 1, 3])))).toEqual([0, 0, 0.5, 0.75, 1, 1]);
  });

  it('η = 1 adds fresh noise of DDIM\'s σ (hand-computed) and keeps the rest; samples do not depend on the batch', () => {
    // T = 2, ᾱ = [0.9, 0.5]: two steps, t = 1 then 0. A denoiser whose x̂₀ is always 0 (ε = x / √(1−ᾱ_t))
    // never clips, so after the first step x₁ = √(1 − 0.9 − σ²)·x_T/√0.5 + σ·z with
    // σ = √((1 − 0.9)/(1 − 0.5))·√(1 − 0.5/0.9) = √0.2·√(4/9) = 0.298142…
    const alphaBar = Float64Array.of(0.9, 0.5);
    const den = (x: Float32Array, t: number) => Float32Array.from(x, (v) => v / Math.sqrt(1 - alphaBar[t]));
    const sigma = Math.sqrt(0.2) * Math.sqrt(4 / 9);
    const keep = Math.sqrt(1 - 0.9 - sigma * sigma) / Math.sqrt(0.5);
    const count = 4000;
    const per = 2;
    const xs: Float32Array[] = [new Float32Array(count * per), new Float32Array(count * per)];
    sampleDdim(den, { alphaBar, steps: 2, count, per, seed: 3, eta: 1, batch: 1000, onStep: (k, _t, xb, first) => xs[k].set(xb, first * per) });
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < count * per; i++) {
      const r = xs[1][i] - keep * xs[0][i];
      sum += r;
      sq += r * r;
    }
    const mean = sum / (count * per);
    const sd = Math.sqrt(sq / (count * per) - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(sd / sigma - 1)).toBeLessThan(0.03);
    // η = 0 is the deterministic sampler exactly; η = 1's images are the same in any batching
    const zero = (x: Float32Array) => new Float32Array(x.length);
    const sched = linearSchedule(100);
    expect(Array.from(sampleDdim(zero, { alphaBar: sched, steps: 5, count: 5, per: 4, seed: 1, eta: 0 }))).toEqual(Array.from(sampleDdim(zero, { alphaBar: sched, steps: 5, count: 5, per: 4, seed: 1 })));
    const one = sampleDdim(zero, { alphaBar: sched, steps: 5, count: 5, per: 4, seed: 1, eta: 1, batch: 5 });
    expect(Array.from(sampleDdim(zero, { alphaBar: sched, steps: 5, count: 5, per: 4, seed: 1, eta: 1, batch: 2 }))).toEqual(Array.from(one));
    expect(Array.from(one)).not.toEqual(Array.from(sampleDdim(zero, { alphaBar: sched, steps: 5, count: 5, per: 4, seed: 1 })));
    expect(() => sampleDdim(zero, { alphaBar: sched, steps: 5, count: 1, per: 1, seed: 1, eta: 1.5 })).toThrow(/η must be in 0…1/);
  });
});
