// The loopback HTTP server the player page comes from: the page, its
// collector and hls.js from node_modules, on a free port of 127.0.0.1. It
// serves nothing else, so the edge under test is always a different origin
// and the page meets the edge's CORS as a player on another site would.

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = (name) => fileURLToPath(new URL(`../page/${name}`, import.meta.url));

/** Where hls.js's browser build is, or an Error saying it is not installed. */
export function hlsjsPath() {
  const require = createRequire(import.meta.url);
  return require.resolve('hls.js/dist/hls.min.js');
}

/** Starts the server; resolves to { origin, close }. */
export async function startPageServer() {
  const files = {
    '/': { path: here('index.html'), type: 'text/html; charset=utf-8' },
    '/rig.js': { path: here('rig.js'), type: 'text/javascript; charset=utf-8' },
    '/hls.js': { path: hlsjsPath(), type: 'text/javascript; charset=utf-8' },
  };
  const server = createServer(async (req, res) => {
    const file = files[new URL(req.url, 'http://rig').pathname];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not part of the rig\n');
      return;
    }
    try {
      const body = await readFile(file.path);
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(body);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e}\n`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
