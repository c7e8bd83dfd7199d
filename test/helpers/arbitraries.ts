/** fast-check arbitraries shared by the property tests (seeded in test/setup.ts). */
import fc from 'fast-check';

/**
 * A 2-D window: kernel 1…k, strides 1…s, dilations 1…d on each axis, pads 0…pad (top, left,
 * bottom, right). Spread into an `fc.record` at the place of its fields: the record draws its keys
 * in order, so the cases it generates depend on where the window's fields stand.
 */
export function windowArbs({ k, s, d = 2, pad }: { k: number; s: number; d?: number; pad: number }) {
  return {
    kh: fc.integer({ min: 1, max: k }),
    kw: fc.integer({ min: 1, max: k }),
    sh: fc.integer({ min: 1, max: s }),
    sw: fc.integer({ min: 1, max: s }),
    dh: fc.integer({ min: 1, max: d }),
    dw: fc.integer({ min: 1, max: d }),
    pads: fc.tuple(fc.nat(pad), fc.nat(pad), fc.nat(pad), fc.nat(pad)),
  };
}

export interface PaddedWindow {
  h: number;
  w: number;
  kh: number;
  kw: number;
  dh: number;
  dw: number;
  pads: readonly number[];
}

/** whether the dilated kernel fits the padded input (one output position at least) */
export function windowFits(p: PaddedWindow): boolean {
  return p.h + p.pads[0] + p.pads[2] >= (p.kh - 1) * p.dh + 1 && p.w + p.pads[1] + p.pads[3] >= (p.kw - 1) * p.dw + 1;
}
