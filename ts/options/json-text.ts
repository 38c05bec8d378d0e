/**
 * A strict JSON reader for config files. JSON.parse would do, but its errors quote the text around
 * the mistake (the file may hold a proxy password) and often give no position; this one says only
 * the line and column and what was expected. Objects come back as Maps, which keeps "__proto__"
 * an ordinary key and lets a key given twice be refused.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | Map<string, JsonValue>;

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS: Array<[string, JsonValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
];

/** How deep arrays and objects may nest: a config file needs 2; a hostile one must not exhaust the stack. */
export const MAX_JSON_DEPTH = 32;

export function parseJsonText(source: string): JsonValue {
  // A byte-order mark some editors write is not part of the JSON.
  const text = source.startsWith('\uFEFF') ? source.slice(1) : source;
  let at = 0;
  let depth = 0;

  const fail = (what: string, offset = at): never => {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    throw new JsonSyntaxError(what, line, column);
  };
  const skipSpace = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at += 1;
  };
  const expect = (char: string, what: string) => {
    skipSpace();
    if (text[at] !== char) fail(at >= text.length ? `unexpected end of file, ${what}` : what);
    at += 1;
  };

  const readString = (): string => {
    const start = at;
    at += 1;
    while (at < text.length && text[at] !== '"') {
      const code = text.charCodeAt(at);
      if (code < 0x20) fail('a control character (such as a line break) inside a string');
      if (text[at] === '\\') {
        const escaped = text[at + 1];
        if (escaped === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail('\\u must be followed by four hex digits');
          at += 6;
          continue;
        }
        if (escaped === undefined || !'"\\/bfnrt'.includes(escaped)) fail('unknown escape in a string');
        at += 2;
        continue;
      }
      at += 1;
    }
    if (at >= text.length) fail('unexpected end of file inside a string', start);
    at += 1;
    // Checked above to be a well-formed JSON string, so this cannot throw.
    return JSON.parse(text.slice(start, at)) as string;
  };

  const readValue = (): JsonValue => {
    skipSpace();
    const char = text[at];
    if (char === undefined) return fail('unexpected end of file, expected a value');
    if (char === '{' || char === '[') {
      if (depth === MAX_JSON_DEPTH) fail(`nested more than ${MAX_JSON_DEPTH} levels deep`);
      depth += 1;
      const nested = char === '{' ? readObject() : readArray();
      depth -= 1;
      return nested;
    }
    if (char === '"') return readString();
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (number) {
      at += number[0].length;
      return Number(number[0]);
    }
    for (const [word, value] of LITERALS) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return value;
      }
    }
    return fail('expected a value (a string in double quotes, a number, true, false, null, [ or {)');
  };

  const readObject = (): Map<string, JsonValue> => {
    const object = new Map<string, JsonValue>();
    at += 1;
    skipSpace();
    if (text[at] === '}') {
      at += 1;
      return object;
    }
    for (;;) {
      skipSpace();
      if (text[at] !== '"') fail(at >= text.length ? 'unexpected end of file, expected a key' : 'expected a key in double quotes');
      const keyAt = at;
      const key = readString();
      if (object.has(key)) fail(`${JSON.stringify(key)} is given twice`, keyAt);
      expect(':', "expected ':' after the key");
      object.set(key, readValue());
      skipSpace();
      if (text[at] === '}') {
        at += 1;
        return object;
      }
      expect(',', "expected ',' or '}'");
    }
  };

  const readArray = (): JsonValue[] => {
    const array: JsonValue[] = [];
    at += 1;
    skipSpace();
    if (text[at] === ']') {
      at += 1;
      return array;
    }
    for (;;) {
      array.push(readValue());
      skipSpace();
      if (text[at] === ']') {
        at += 1;
        return array;
      }
      expect(',', "expected ',' or ']'");
    }
  };

  const value = readValue();
  skipSpace();
  if (at < text.length) fail('unexpected text after the end of the JSON value');
  return value;
}
