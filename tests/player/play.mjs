#!/usr/bin/env node
// Plays an HLS URL with hls.js in headless Chromium and prints ONE JSON
// report on stdout: whether playback started and how fast, seconds played,
// stalls, every hls.js error, live latency, playlist and fragment loads with
// their HTTP statuses, and what the browser's network stack saw.
//
//   node tests/player/play.mjs http://127.0.0.1:8080/hls/demo/master.m3u8 --seconds 20 --verbose
//
// Exit status: 0 a report was printed (whatever the stream did; judging it is
// the caller's business), 2 bad arguments, 3 the rig cannot run here (no
// chromium, packages not installed; stdout has {"unavailable": reason}),
// 4 the rig itself failed or hung (stdout has {"rig_error": reason}).

import { parseArgs } from 'node:util';
import { play, Unavailable } from './lib/session.mjs';

const USAGE = `usage: node play.mjs URL [options]
  --seconds N        watch N seconds after the first frame (default 10)
  --start-timeout S  give up when no frame shows within S seconds (default 20)
  --config JSON      hls.js config, e.g. '{"lowLatencyMode":true}' (default {})
  --header 'N: V'    add a request header to every hls.js request (repeatable)
  --query 'k=v'      append a query to every hls.js request (repeatable)
  --ignore-certificate-errors
                     accept self-signed certificates (test-only, HTTPS tests)
  --chromium PATH    the browser (default $CHROMIUM or /usr/bin/chromium)
  --screenshot FILE  save a PNG of the player at the end
  --verbose          print what hls.js does on stderr as it happens`;

function fail(code, body) {
  process.stdout.write(`${JSON.stringify(body)}\n`);
  process.exit(code);
}

function usage(problem) {
  process.stderr.write(`${problem}\n${USAGE}\n`);
  process.exit(2);
}

function number(name, text, fallback) {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) usage(`--${name}: not a positive number: ${text}`);
  return n;
}

function headers(list) {
  const out = {};
  for (const h of list || []) {
    const at = h.indexOf(':');
    if (at < 1) usage(`--header: expected 'Name: value', got ${h}`);
    out[h.slice(0, at).trim()] = h.slice(at + 1).trim();
  }
  return out;
}

function config(text) {
  if (text === undefined) return {};
  try {
    const c = JSON.parse(text);
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new Error('not an object');
    return c;
  } catch (e) {
    return usage(`--config: not a JSON object: ${e.message}`);
  }
}

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        seconds: { type: 'string' },
        'start-timeout': { type: 'string' },
        config: { type: 'string' },
        header: { type: 'string', multiple: true },
        query: { type: 'string', multiple: true },
        'ignore-certificate-errors': { type: 'boolean' },
        chromium: { type: 'string' },
        screenshot: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) usage('plays an HLS URL with hls.js in headless Chromium');
  if (positionals.length !== 1) usage('expected exactly one URL');
  if (!/^https?:\/\//.test(positionals[0])) usage(`not an http(s) URL: ${positionals[0]}`);
  return {
    url: positionals[0],
    seconds: number('seconds', v.seconds, 10),
    startTimeout: number('start-timeout', v['start-timeout'], 20),
    config: config(v.config),
    headers: headers(v.header),
    query: (v.query || []).join('&'),
    ignoreCertificateErrors: !!v['ignore-certificate-errors'],
    chromium: v.chromium || process.env.CHROMIUM || '/usr/bin/chromium',
    screenshot: v.screenshot || null,
    verbose: !!v.verbose,
  };
}

const opts = options(process.argv.slice(2));

// The last word on time: whatever hangs (the browser, the DevTools pipe),
// the process ends with a report of the hang, and Playwright's exit handler
// takes the browser down with it.
const hardLimitS = opts.startTimeout + opts.seconds + 60;
setTimeout(() => fail(4, { rig_error: `no report within ${hardLimitS} s` }), hardLimitS * 1000).unref();

try {
  const report = await play(opts);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
} catch (e) {
  if (e instanceof Unavailable) fail(3, { unavailable: e.message });
  fail(4, { rig_error: String((e && e.stack) || e) });
}
