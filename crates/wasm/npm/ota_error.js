/** Every error otalab throws: `code` is stable, `message` says what was wrong and where. */
export class OtaError extends Error {
  constructor(message, code, details) {
    super(message);
    this.name = 'OtaError';
    this.code = code;
    if (details) Object.assign(this, details);
  }
}
