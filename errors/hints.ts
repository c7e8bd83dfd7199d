/**
 * What makes an error message point at the mistake: a "did you mean" for a near-miss name, and the
 * line and column of a syntax error in a JSON or YAML file a user gave (JSON.parse says a byte
 * offset at best, YAML adds a multi-line excerpt). No imports: the CLI's start-up path uses it.
 */

/** Edit distance counting an adjacent transposition as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[m][n];
}

/** The closest candidate to `word` if it is a near miss (case, a typo or two), else undefined. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.floor(Math.max(word.length, best.length) / 3));
  return bestD <= limit ? best : undefined;
}

/** 1-based line and column of offset `at` in `text` (columns in UTF-16 code units, as editors count). */
export function lineColumn(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: at - start + 1 };
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Where and what the first syntax error of JSON `text` is — `line 3, column 1: expected a
 * property name in double quotes, found '}'` — or undefined when it is valid JSON. A scanner of its
 * own (no recursion, so any depth), run only once JSON.parse has refused the text.
 */
export function jsonSyntaxError(text: string): string | undefined {
  let i = 0;
  const stack: string[] = []; // the closers of the open containers
  let need: 'value' | 'key' | 'colon' | 'after' = 'value';
  const at = (what: string, pos = i): string => {
    const { line, column } = lineColumn(text, pos);
    return `line ${line}, column ${column}: ${what}`;
  };
  const found = (): string => (i >= text.length ? 'the end of the file' : `${JSON.stringify(text[i])}`);
  /** a string from the opening quote at i; an error, or undefined with i past the closing quote */
  const string = (): string | undefined => {
    const open = i++;
    for (;;) {
      if (i >= text.length) return at('unterminated string (the closing double quote is missing)', open);
      const c = text[i];
      if (c === '"') {
        i++;
        return undefined;
      }
      if (c < ' ') return at(`a control character (${JSON.stringify(c)}) inside a string: write it as an escape`);
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return at('\\u must be followed by 4 hexadecimal digits');
          i += 6;
        } else if (e !== undefined && ESCAPES.has(e)) i += 2;
        else return at(`invalid escape ${JSON.stringify(`\\${e ?? ''}`)} in a string`);
        continue;
      }
      i++;
    }
  };
  for (;;) {
    while (i < text.length && WS.has(text[i])) i++;
    const c = text[i];
    if (need === 'value') {
      if (c === '{' || c === '[') {
        i++;
        stack.push(c === '{' ? '}' : ']');
        while (i < text.length && WS.has(text[i])) i++;
        if (text[i] === stack[stack.length - 1]) {
          i++;
          stack.pop();
          need = 'after';
        } else need = c === '{' ? 'key' : 'value';
        continue;
      }
      if (c === '"') {
        const e = string();
        if (e) return e;
        need = 'after';
        continue;
      }
      const lit = ['true', 'false', 'null'].find((l) => text.startsWith(l, i));
      if (lit) {
        i += lit.length;
        need = 'after';
        continue;
      }
      NUMBER.lastIndex = i;
      if (c === '-' || (c >= '0' && c <= '9')) {
        const m = NUMBER.exec(text);
        if (!m || m[0] === '-') return at('a malformed number');
        i += m[0].length;
        need = 'after';
        continue;
      }
      return at(`expected a value (a string, number, object, array, true, false or null), found ${found()}`);
    }
    if (need === 'key') {
      if (c !== '"') return at(`expected a property name in double quotes, found ${found()}`);
      const e = string();
      if (e) return e;
      need = 'colon';
      continue;
    }
    if (need === 'colon') {
      if (c !== ':') return at(`expected ':' after the property name, found ${found()}`);
      i++;
      need = 'value';
      continue;
    }
    const closer = stack[stack.length - 1];
    if (closer === undefined) return i < text.length ? at(`unexpected ${found()} after the end of the JSON value`) : undefined;
    if (c === ',') {
      const comma = i++;
      while (i < text.length && WS.has(text[i])) i++;
      if (text[i] === closer) return at(`a trailing comma before '${closer}'`, comma);
      need = closer === '}' ? 'key' : 'value';
      continue;
    }
    if (c === closer) {
      i++;
      stack.pop();
      continue;
    }
    return at(`expected ',' or '${closer}' after ${closer === '}' ? 'a property value' : 'an array element'}, found ${found()}`);
  }
}

/**
 * `JSON.parse(text)`; on a syntax error, throws `fail('not valid JSON: line L, column C: …')`.
 * A leading byte-order mark (editors on Windows write one) is skipped.
 */
export function parseJson(text: string, fail: (message: string) => Error): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (e) {
    throw fail(`not valid JSON: ${jsonSyntaxError(body) ?? (e as Error).message}`);
  }
}

/**
 * A YAML parser's error as one line: the `yaml` package's message ends its first line with `at
 * line L, column C:` and follows it with an excerpt of the file.
 */
export function yamlSyntaxError(e: unknown): string {
  const first = String((e as Error)?.message ?? e).split('\n')[0].trim();
  return first.replace(/:$/, '');
}
