// One playback session: headless Chromium opens the rig's page, hls.js plays
// the URL until the first frame (bounded by startTimeout), then for `seconds`
// more, and the page's collector and the network log are merged into one
// report. Every step that waits on the browser is bounded, so a browser that
// never starts, a page that hangs or a stream that never plays ends the
// session instead of hanging it.

import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPageServer, hlsjsPath } from './page-server.mjs';
import { watchNetwork } from './network-log.mjs';

/**
 * Flags known to work as root in a closed network: without the
 * background-networking ones Chromium's own connections are refused and
 * slow it down; autoplay needs no user gesture for a muted test player.
 */
export const CHROMIUM_FLAGS = [
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

const LAUNCH_MS = 30_000;
const STEP_MS = 15_000;
const POLL_MS = 200;

/** The rig cannot run here: a tool or package is missing. */
export class Unavailable extends Error {}

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function requireTools(chromiumPath) {
  try {
    await access(chromiumPath, constants.X_OK);
  } catch {
    throw new Unavailable(`no chromium at ${chromiumPath} (.ci/setup installs Debian's chromium)`);
  }
  try {
    hlsjsPath();
  } catch {
    throw new Unavailable('hls.js is not installed (npm ci in tests/player; .ci/setup does it)');
  }
  try {
    return (await import('playwright-core')).chromium;
  } catch {
    throw new Unavailable('playwright-core is not installed (npm ci in tests/player; .ci/setup does it)');
  }
}

async function launch(chromium, opts, userDataDir) {
  const args = [...CHROMIUM_FLAGS];
  if (opts.ignoreCertificateErrors) args.push('--ignore-certificate-errors');
  try {
    return await within(chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.chromium,
      headless: true,
      args,
      ignoreHTTPSErrors: !!opts.ignoreCertificateErrors,
      viewport: { width: 640, height: 360 },
      timeout: LAUNCH_MS,
    }), LAUNCH_MS + 5_000, 'launching chromium');
  } catch (e) {
    throw new Unavailable(`chromium did not start: ${String(e.message || e).split('\n')[0]}`);
  }
}

// Until the first frame (or startTimeout), then `seconds` of watching; ends
// early on a fatal hls.js error, the end of a VOD stream or a crashed page.
async function watch(page, opts, crashed) {
  const loadStart = Date.now();
  let firstFrameAt = null;
  for (;;) {
    await sleep(POLL_MS);
    if (crashed.yes) return { endReason: 'page_crashed', watchedMs: 0 };
    const st = await within(page.evaluate(() => window.rig.status()), STEP_MS, 'reading the page');
    const t = Date.now();
    if (st.started && firstFrameAt === null) firstFrameAt = t;
    const watchedMs = firstFrameAt === null ? 0 : t - firstFrameAt;
    if (st.fatal) return { endReason: 'fatal_error', watchedMs };
    if (st.ended) return { endReason: 'ended', watchedMs };
    if (firstFrameAt === null && t - loadStart >= opts.startTimeout * 1000) {
      return { endReason: 'start_timeout', watchedMs };
    }
    if (firstFrameAt !== null && watchedMs >= opts.seconds * 1000) {
      return { endReason: 'watched', watchedMs };
    }
  }
}

function forward(page, opts, pageErrors, crashed) {
  page.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
  page.on('crash', () => { crashed.yes = true; });
  if (opts.verbose) {
    page.on('console', (m) => process.stderr.write(`${m.text()}\n`));
  }
}

async function session(chromium, opts, userDataDir, server) {
  const context = await launch(chromium, opts, userDataDir);
  try {
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    const crashed = { yes: false };
    forward(page, opts, pageErrors, crashed);
    const net = await within(watchNetwork(context, page, server.origin), STEP_MS, 'network log');
    await page.goto(`${server.origin}/`, { timeout: STEP_MS });
    await within(page.evaluate((o) => window.rig.start(o), {
      url: opts.url, config: opts.config, headers: opts.headers, query: opts.query,
      verbose: opts.verbose,
    }), STEP_MS, 'starting hls.js');
    const { endReason, watchedMs } = await watch(page, opts, crashed);
    const collected = crashed.yes ? {} : await within(
      page.evaluate(() => window.rig.report()), STEP_MS, 'reading the report');
    if (opts.screenshot && !crashed.yes) {
      await page.screenshot({ path: opts.screenshot, timeout: STEP_MS }).catch(() => {});
    }
    return {
      url: opts.url,
      browser: net.product,
      config: opts.config,
      end_reason: endReason,
      watched_seconds: Math.round(watchedMs) / 1000,
      ...collected,
      http: net.log,
      page_errors: pageErrors,
    };
  } finally {
    await within(context.close(), STEP_MS, 'closing chromium').catch(() => {});
  }
}

/** Plays `opts.url`; resolves to the report, or rejects (Unavailable or Error). */
export async function play(opts) {
  const chromium = await requireTools(opts.chromium);
  const server = await startPageServer();
  const userDataDir = await mkdtemp(join(tmpdir(), 'hls-edge-player-'));
  try {
    return await session(chromium, opts, userDataDir, server);
  } finally {
    await server.close();
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  }
}
