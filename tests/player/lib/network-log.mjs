// What the browser's network stack saw, below hls.js: every request to the
// stream (not to the rig's own page server) with its status, HTTP version
// (h2 or http/1.1) and outcome, from the Chrome DevTools Protocol's Network
// domain. hls.js reports what it loaded; this also counts what it aborted,
// CORS preflights and requests that never got a response.

const KEEP = 50; // examples of failures kept in the report

export async function watchNetwork(context, page, rigOrigin) {
  const cdp = await context.newCDPSession(page);
  const requests = new Map();
  const log = { total: 0, statuses: {}, protocols: {}, preflights: 0, canceled: 0, not_ok: [], failed: [] };
  const ours = (url) => url.startsWith(rigOrigin) || url.startsWith('data:') || url.startsWith('blob:');

  cdp.on('Network.requestWillBeSent', (e) => {
    if (ours(e.request.url)) return;
    requests.set(e.requestId, { url: e.request.url, method: e.request.method });
    log.total += 1;
    if (e.request.method === 'OPTIONS') log.preflights += 1;
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = requests.get(e.requestId);
    if (!r) return;
    const { status, protocol } = e.response;
    log.statuses[status] = (log.statuses[status] || 0) + 1;
    if (protocol) log.protocols[protocol] = (log.protocols[protocol] || 0) + 1;
    if ((status < 200 || status > 299) && log.not_ok.length < KEEP) {
      log.not_ok.push({ url: r.url, method: r.method, status });
    }
  });
  cdp.on('Network.loadingFailed', (e) => {
    const r = requests.get(e.requestId);
    if (!r) return;
    // an abort by hls.js (a superseded blocking reload, a level switch) is
    // not a network failure
    if (e.canceled) {
      log.canceled += 1;
      return;
    }
    if (log.failed.length < KEEP) {
      log.failed.push({ url: r.url, method: r.method, error: e.errorText, cors: e.corsErrorStatus
        ? e.corsErrorStatus.corsError : null });
    }
  });
  await cdp.send('Network.enable');
  const version = await cdp.send('Browser.getVersion').catch(() => null);
  return { log, product: version ? version.product : null };
}
