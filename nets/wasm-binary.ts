/**
 * The few encodings every hand-assembled WebAssembly module here needs (LEB128 integers, sections,
 * the module header): nets/wasm-f32.ts and sim/kernels/wasm.ts assemble their kernels byte by byte
 * with them, with no toolchain.
 */

/** `\0asm` and version 1 */
export const WASM_HEADER: readonly number[] = Object.freeze([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** unsigned LEB128 */
export function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

/** signed LEB128 (i32 immediates) */
export function sleb(n: number, out: number[]): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** a section: id, byte length, body */
export function section(id: number, body: readonly number[], out: number[]): void {
  out.push(id);
  uleb(body.length, out);
  for (const b of body) out.push(b);
}
