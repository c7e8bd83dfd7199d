/**
 * Reads the data a UMD/browserify bundle exports (`module.exports = {…}` / `= "base64…"`, the form
 * nsfwjs ships its models in) WITHOUT running it: the source is parsed with acorn and the one
 * assignment to `<x>.exports` whose right side is a pure literal is converted to a value. Anything
 * that is not plain data (calls, identifiers, getters, computed keys, spreads, template
 * expressions, functions) is refused — a model folder is data, never code, even when it looks like
 * JavaScript. node:vm was used here before and is no sandbox.
 */
import { parse } from 'acorn';
import { ModelError } from '../errors.js';

// Minimal ESTree shapes we look at; acorn's own types are wider.
interface Node {
  type: string;
  start: number;
  [k: string]: unknown;
}

class NotData extends Error {
  constructor(readonly at: number, what: string) {
    super(what);
  }
}

/** Converts a literal expression to a plain value, refusing anything that would need evaluation. */
function literalValue(n: Node): unknown {
  switch (n.type) {
    case 'Literal': {
      if ((n as { regex?: unknown }).regex !== undefined || (n as { bigint?: unknown }).bigint !== undefined) {
        throw new NotData(n.start, 'regular-expression or BigInt literal');
      }
      return n.value;
    }
    case 'ArrayExpression': {
      const out: unknown[] = [];
      for (const el of n.elements as (Node | null)[]) {
        if (el === null) throw new NotData(n.start, 'array hole');
        out.push(literalValue(el));
      }
      return out;
    }
    case 'ObjectExpression': {
      // null prototype: a key named __proto__ must stay data, not set a prototype
      const out: Record<string, unknown> = Object.create(null);
      for (const p of n.properties as Node[]) {
        if (p.type !== 'Property' || p.kind !== 'init' || p.computed || p.method || p.shorthand) {
          throw new NotData(p.start, 'object member that is not a plain key: value pair');
        }
        const k = p.key as Node;
        const key = k.type === 'Identifier' ? (k.name as string) : k.type === 'Literal' && (typeof k.value === 'string' || typeof k.value === 'number') ? String(k.value) : undefined;
        if (key === undefined) throw new NotData(k.start, 'object key');
        out[key] = literalValue(p.value as Node);
      }
      return out;
    }
    case 'UnaryExpression': {
      // minifiers write true/false as !0/!1 and negative numbers as -x; void 0 is undefined
      const arg = n.argument as Node;
      if (arg.type === 'Literal' && typeof arg.value === 'number') {
        if (n.operator === '-') return -arg.value;
        if (n.operator === '+') return arg.value;
        if (n.operator === '!') return !arg.value;
        if (n.operator === 'void') return undefined;
      }
      throw new NotData(n.start, `unary '${String(n.operator)}' on something other than a number`);
    }
    case 'TemplateLiteral': {
      if ((n.expressions as Node[]).length) throw new NotData(n.start, 'template literal with expressions');
      return ((n.quasis as Node[])[0].value as { cooked: string }).cooked;
    }
    default:
      throw new NotData(n.start, n.type);
  }
}

/** Every `<anything>.exports = <expr>` assignment in the program, in source order. */
function exportAssignments(root: Node): Node[] {
  const found: Node[] = [];
  const stack: unknown[] = [root];
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
      continue;
    }
    if (!v || typeof v !== 'object' || typeof (v as Node).type !== 'string') continue;
    const n = v as Node;
    if (n.type === 'AssignmentExpression' && n.operator === '=') {
      const l = n.left as Node;
      const prop = l.property as Node | undefined;
      if (l.type === 'MemberExpression' && !l.computed && prop?.type === 'Identifier' && prop.name === 'exports') found.push(n.right as Node);
    }
    for (const k of Object.keys(n)) {
      if (k !== 'type' && k !== 'start' && k !== 'end' && k !== 'loc' && k !== 'range') stack.push(n[k]);
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

function lineCol(src: string, at: number): string {
  let line = 1;
  let last = -1;
  for (let i = 0; i < at && i < src.length; i++) if (src.charCodeAt(i) === 10) ((line += 1), (last = i));
  return `line ${line}, column ${at - last}`;
}

/**
 * The data a bundle exports. The bundle must contain exactly one `….exports = <literal>`
 * assignment (browserify's prelude assigns `module.exports = e()`, a call, which is skipped);
 * otherwise a ModelError names the file and the first construct that is not data.
 */
export function readBundleLiteral(src: string, file: string): unknown {
  let ast: Node;
  try {
    ast = parse(src, { ecmaVersion: 'latest', sourceType: 'script' }) as unknown as Node;
  } catch (e) {
    throw new ModelError(`not a JavaScript bundle: ${(e as Error).message}`, file);
  }
  const values: unknown[] = [];
  let firstRefusal: NotData | undefined;
  for (const rhs of exportAssignments(ast)) {
    if (rhs.type === 'CallExpression' || rhs.type === 'Identifier') continue; // the UMD prelude's module.exports = e()
    try {
      values.push(literalValue(rhs));
    } catch (e) {
      if (!(e instanceof NotData)) throw e;
      firstRefusal ??= e;
    }
  }
  if (firstRefusal) {
    throw new ModelError(`bundle exports something that is not plain data (${firstRefusal.message} at ${lineCol(src, firstRefusal.at)}); model bundles are read, never run`, file);
  }
  if (values.length !== 1) {
    throw new ModelError(`expected one 'module.exports = <literal>' in the bundle, found ${values.length}; model bundles are read, never run`, file);
  }
  return values[0];
}
