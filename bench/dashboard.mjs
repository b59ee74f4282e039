// Benchmark: devices per tab. For each N, a fresh dashboard page (release build in dist/)
// against the local sandbox: add N devices, connect them all (one after another), push one
// correct upgrade, and measure time to all-connected, time to all-succeeded (the cloud's
// rule), and the longest main-thread task (PerformanceObserver 'longtask', tasks > 50 ms).
// Also the page's total gzipped transfer. Usage: node bench/dashboard.mjs [N ...]  (default
// 50 100 250; run scripts/build-dashboard first)
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startSandbox } from '../sandbox/sandbox.mjs';
import { launchChromium } from '../tests/support/browser.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist');
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const counts = sizes.length ? sizes : [50, 100, 250];

const gz = readdirSync(dist).reduce((sum, f) => sum + execFileSync('gzip', ['-9', '-c', path.join(dist, f)]).length, 0);
console.log(`bundle: ${readdirSync(dist).join(', ')}: ${(gz / 1024).toFixed(0)} KiB gzipped in all (target <= 400 KB)`);

const sandbox = await startSandbox({ dist });
const browser = await launchChromium();
const rows = [];
try {
  for (const n of counts) {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      window.__longest = 0;
      window.__longtasks = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          window.__longtasks++;
          window.__longest = Math.max(window.__longest, e.duration);
        }
      }).observe({ type: 'longtask', buffered: true });
    });
    await page.goto(`${sandbox.url}/?demo=0`);
    await page.waitForSelector('[data-testid=package-info]:not(:empty)');
    await page.fill('[data-testid=pk]', `a1Bench${String(n).padStart(4, '0')}`);
    await page.fill('[data-testid=template]', `node-{001..${String(n).padStart(3, '0')}}`);
    await page.click('[data-testid=add]');
    const count = (id) => page.evaluate((id) => Number(document.querySelector(`[data-testid=count-${id}] b`).textContent), id);
    const wait = async (id, want, ms) => {
      const deadline = Date.now() + ms;
      while ((await count(id)) < want) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 250));
      }
      return true;
    };
    // The instrument works: a 120 ms busy task must be seen. Then start counting afresh.
    await page.evaluate(() => new Promise((r) => setTimeout(() => { const t = performance.now(); while (performance.now() - t < 120); r(); }, 0)));
    await page.waitForFunction(() => window.__longest >= 100, null, { timeout: 5000 });
    await page.evaluate(() => { window.__longest = 0; window.__longtasks = 0; });
    const t0 = Date.now();
    await page.click('[data-testid=connect-all]');
    const connected = await wait('online', n, 120_000 + n * 1000);
    const tConnected = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    await page.click('[data-testid=push]');
    const done = await wait('succeeded', n, 300_000);
    const tDone = (Date.now() - t1) / 1000;
    const { longest, longtasks } = await page.evaluate(() => ({ longest: window.__longest, longtasks: window.__longtasks }));
    rows.push({
      devices: n,
      'all connected (s)': connected ? tConnected.toFixed(1) : `no (${await count('online')})`,
      'all succeeded (s)': done ? tDone.toFixed(1) : `no (${await count('succeeded')})`,
      'long tasks': longtasks,
      'longest task (ms)': Math.round(longest),
    });
    await page.close();
  }
} finally {
  await browser.close();
  await sandbox.stop();
}
console.log('1 MiB firmware, flash 1.5 s, reboot 1 s; target: 250 devices with no task over 100 ms');
console.table(rows);
