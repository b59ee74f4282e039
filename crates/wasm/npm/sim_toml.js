/**
 * Gives `Scenario` its TOML side: `Scenario.parse(text)` reads a scenario file (smol-toml), then
 * checks it with `Scenario.fromJSON` (the rules of `otalab run` and the page); `toToml()` writes
 * one. A TOML syntax error is an `OtaError` `SCENARIO_SYNTAX` with `line` and `column`.
 */
export function withToml(Scenario, toml, OtaError) {
  const kind = (value) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value);
  // What TOML cannot say (no value) is left out.
  const withoutNulls = (value) => {
    if (Array.isArray(value)) return value.map(withoutNulls);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
    }
    return value;
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
    return Scenario.fromJSON(value);
  };
  Scenario.prototype.toToml = function toToml() {
    return toml.stringify(withoutNulls(this.toJSON()));
  };
}
