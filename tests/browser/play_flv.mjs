// Opens the player page in Debian's headless Chromium (driven by playwright-core) and waits until
// the page reports that playback reached its target (window.result.done) or `timeout` passes.
// Prints ONE JSON line on stdout: {ok, reason, wallMs, browser, result, console, pageErrors,
// requestFailures}. Exit status: 0 when the page finished without a fatal error, 1 when it
// reported one or timed out, 2 on bad usage or a browser that would not start, 3 on the hard
// timeout (something hung even though every step is bounded).
//
//   node tests/browser/play_flv.mjs <page URL> <timeout seconds>
//
// Chromium is /usr/bin/chromium (Playwright's own browser download cannot work on these
// machines), with a fresh temporary profile that is removed afterwards. The browser is always
// closed: on every path below, on SIGTERM/SIGINT (Playwright's handlers), and on exit.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

const started = Date.now();
let printed = false;
function report(obj, code) {
  if (!printed) {
    printed = true;
    process.stdout.write(JSON.stringify({ wallMs: Date.now() - started, ...obj }) + '\n');
  }
  process.exitCode = code;
}

const [pageUrl, timeoutArg] = process.argv.slice(2);
const timeoutS = Number(timeoutArg);
if (!pageUrl || !(timeoutS > 0)) {
  report({ ok: false, reason: 'usage: node play_flv.mjs <page URL> <timeout seconds>' }, 2);
  process.exit(2);
}
const timeoutMs = Math.round(timeoutS * 1000);

const consoleLines = [];
const pageErrors = [];
const requestFailures = [];
let context = null;
let lastResult = null;
let browserVersion = null;
const profile = mkdtempSync(join(tmpdir(), 'liu-chromium-profile-'));

function cleanupProfile() {
  try { rmSync(profile, { recursive: true, force: true }); } catch { /* best effort */ }
}
process.on('exit', cleanupProfile);

// Last resort: every await below is bounded, but if something hangs anyway, report and exit
// (Playwright kills the browser processes it launched when this process exits).
const hard = setTimeout(() => {
  report({ ok: false, reason: `hard timeout after ${timeoutS + 30} s`, browser: browserVersion,
           result: lastResult, console: consoleLines.slice(-40), pageErrors, requestFailures }, 3);
  process.exit(3);
}, timeoutMs + 30_000);
hard.unref();

async function main() {
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      timeout: 30_000,
      viewport: { width: 800, height: 500 },
    });
  } catch (e) {
    report({ ok: false, reason: `could not launch ${CHROMIUM}: ${e && e.message}` }, 2);
    return;
  }
  try {
    browserVersion = context.browser() ? context.browser().version() : null;
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('console', (m) => {
      if (consoleLines.length < 400) consoleLines.push(`${m.type()}: ${m.text()}`.slice(0, 500));
    });
    page.on('pageerror', (e) => pageErrors.push(String(e && e.message).slice(0, 500)));
    page.on('requestfailed', (r) => requestFailures.push(`${r.url()}: ${r.failure() && r.failure().errorText}`));

    await page.goto(pageUrl, { waitUntil: 'load', timeout: 15_000 });
    let timedOut = false;
    const deadline = started + timeoutMs;
    for (;;) {
      lastResult = await page.evaluate(() => window.result || null);
      if (lastResult && lastResult.done) break;
      if (Date.now() >= deadline) { timedOut = true; break; }
      await page.waitForTimeout(250);
    }
    const fatal = lastResult ? lastResult.fatal : 'the page set no window.result';
    const ok = !timedOut && !fatal;
    const reason = timedOut ? `timeout: playback did not reach the target within ${timeoutS} s`
      : (fatal ? `page: ${fatal}` : 'ok');
    report({ ok, reason, browser: browserVersion, result: lastResult,
             console: consoleLines.slice(-40), pageErrors, requestFailures }, ok ? 0 : 1);
  } catch (e) {
    report({ ok: false, reason: `error: ${e && e.message}`, browser: browserVersion, result: lastResult,
             console: consoleLines.slice(-40), pageErrors, requestFailures }, 1);
  } finally {
    // Bounded close; if Chromium does not go away, exiting kills it.
    await Promise.race([context.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
  }
}

await main();
cleanupProfile();
process.exit(process.exitCode ?? 1);
