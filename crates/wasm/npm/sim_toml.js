/**
 * Gives `Scenario` its TOML side: `Scenario.parse(text)` reads a scenario file (smol-toml), then
 * checks it with `Scenario.fromJSON` (the rules of `otalab run` and the page); `toToml()` writes
 * one. A TOML syntax error is an `OtaError` `SCENARIO_SYNTAX` with `line` and `column`; a value the
 * format refuses is `SCENARIO_INVALID` with its `path` and, found in the text, its `line` and
 * `column`.
 */
export function withToml(Scenario, toml, OtaError) {
  // `typeof` only: it runs no proxy trap.
  const kind = (value) => (value === null ? 'null' : typeof value);
  // What TOML cannot say (no value) is left out.
  const withoutNulls = (value) => {
    if (Array.isArray(value)) return value.map(withoutNulls);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
    }
    return value;
  };
  /** Key segments of a TOML key (`a.b`, `"a.b".c`), unquoted. */
  const keyPath = (key) => (key.match(/"[^"]*"|'[^']*'|[^.\s]+/g) ?? []).map((k) => k.replace(/^["']|["']$/g, ''));
  /**
   * Where `path` (`actions[1].push`, `device.faults[0].share`) is written in `text`: the line and
   * column of the key, else of the nearest enclosing key or table (an inline table or a value
   * the path points into). Undefined when nothing of it is written.
   */
  const locate = (text, path) => {
    const want = path.replace(/\[(\d+)\]/g, '.[$1]').split('.').filter(Boolean);
    const counts = new Map();
    let table = [];
    let best;
    const consider = (segments, line, column) => {
      let n = 0;
      while (n < segments.length && n < want.length && segments[n] === want[n]) n++;
      if (n === segments.length && n > 0 && (!best || n > best.depth)) best = { depth: n, line, column };
    };
    text.split('\n').forEach((raw, index) => {
      const line = raw.replace(/\r$/, '');
      const indent = line.length - line.trimStart().length;
      const trimmed = line.trim();
      const header = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(trimmed) ?? /^\[\s*([^\]]+?)\s*\]/.exec(trimmed);
      if (header) {
        const segments = keyPath(header[1]);
        if (trimmed.startsWith('[[')) {
          const name = segments.join('.');
          const n = (counts.get(name) ?? -1) + 1;
          counts.set(name, n);
          segments.push(`[${n}]`);
        }
        table = segments;
        consider(table, index + 1, indent + 1);
        return;
      }
      const assignment = /^((?:"[^"]*"|'[^']*'|[^=\s#]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[^=\s#.]+))*)\s*=/.exec(trimmed);
      if (!assignment) return;
      const segments = [...table, ...keyPath(assignment[1])];
      consider(segments, index + 1, indent + 1);
      // A key inside an inline table or an array of them on the same line.
      const last = want.at(-1);
      if (best && best.line === index + 1 && best.depth === segments.length && want.length > segments.length) {
        const inner = new RegExp(`[{,]\\s*(${last.replace(/[^\w-]/g, '\\$&')})\\s*=`).exec(line);
        if (inner) best = { depth: want.length, line: index + 1, column: inner.index + inner[0].indexOf(inner[1]) + 1 };
      }
    });
    return best && { line: best.line, column: best.column };
  };

  Scenario.parse = function parse(text) {
    if (typeof text !== 'string') {
      throw new OtaError(`text: expected a string, found ${kind(text)}`, 'INVALID_ARGUMENT', { path: 'text' });
    }
    let value;
    try {
      value = toml.parse(text);
    } catch (e) {
      const where = typeof e.line === 'number' ? { line: e.line, column: e.column } : undefined;
      throw new OtaError(`TOML: ${String(e.message).split('\n')[0]}${where ? ` (line ${where.line}, column ${where.column})` : ''}`, 'SCENARIO_SYNTAX', where);
    }
    try {
      return Scenario.fromJSON(value);
    } catch (e) {
      if (e instanceof OtaError && e.code === 'SCENARIO_INVALID' && typeof e.path === 'string') {
        const where = locate(text, e.path);
        if (where) {
          e.message = `${e.message} (line ${where.line}, column ${where.column})`;
          Object.assign(e, where);
        }
      }
      throw e;
    }
  };
  Scenario.prototype.toToml = function toToml() {
    return toml.stringify(withoutNulls(this.toJSON()));
  };
}
