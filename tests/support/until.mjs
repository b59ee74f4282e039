// Awaits a condition instead of sleeping: polls `fn` until it returns something truthy (and
// returns that), failing the test with `what` after `ms` milliseconds.
import assert from 'node:assert/strict';

export async function until(what, fn, ms = 30_000, every = 25) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
