/**
 * An httpbin-style echo service: `/headers`, `/get`, `/post`, `/anything`, `/ip`,
 * `/status/{code}`, `/delay/{seconds}`. It reports the headers it received, including the
 * `X-Forwarded-Client-Cert` header the sidecar sets for mTLS callers.
 */
import type http from 'node:http';
import { createAppServer, isMain, readBody, runApp, sendJson } from '../../shared/server.js';

const MAX_DELAY_SECONDS = 10;

function titleCase(name: string): string {
  return name
    .split('-')
    .map((p) => (p ? p[0].toUpperCase() + p.slice(1) : p))
    .join('-');
}

export function echoedHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = titleCase(req.rawHeaders[i].toLowerCase());
    const value = req.rawHeaders[i + 1];
    out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
  }
  return out;
}

function args(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    out[key] = all.length === 1 ? all[0] : all;
  }
  return out;
}

function origin(req: http.IncomingMessage): string {
  return req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
}

export function createHttpbinServer(log?: (line: string) => void): http.Server {
  return createAppServer(
    'httpbin',
    async (req, res) => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'httpbin'}`);
      const path = url.pathname;
      const base = () => ({
        args: args(url),
        headers: echoedHeaders(req),
        origin: origin(req),
        url: url.href,
      });
      const withBody = async () => {
        const data = await readBody(req);
        let json: unknown = null;
        try {
          json = data ? JSON.parse(data) : null;
        } catch {
          json = null;
        }
        const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
          ? Object.fromEntries(new URLSearchParams(data))
          : {};
        return { ...base(), data, files: {}, form, json };
      };
      if (path === '/headers') return sendJson(res, 200, { headers: echoedHeaders(req) });
      if (path === '/ip') return sendJson(res, 200, { origin: origin(req) });
      if (path === '/get') {
        if (req.method !== 'GET' && req.method !== 'HEAD')
          return sendJson(res, 405, { error: 'method not allowed' });
        return sendJson(res, 200, base());
      }
      if (path === '/post') {
        if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
        return sendJson(res, 200, await withBody());
      }
      if (path === '/anything' || path.startsWith('/anything/')) {
        return sendJson(res, 200, { ...(await withBody()), method: req.method });
      }
      const status = /^\/status\/(\d{3})$/.exec(path);
      if (status) {
        const code = Number(status[1]);
        if (code < 100 || code > 599) return sendJson(res, 400, { error: `invalid status code ${code}` });
        res.writeHead(code, { 'content-length': 0 });
        return res.end();
      }
      const delay = /^\/delay\/(\d+(?:\.\d+)?)$/.exec(path);
      if (delay) {
        const seconds = Math.min(Number(delay[1]), MAX_DELAY_SECONDS);
        await new Promise((r) => setTimeout(r, seconds * 1000));
        return sendJson(res, 200, base());
      }
      sendJson(res, 404, { error: 'not found' });
    },
    log,
  );
}

if (isMain(import.meta.url)) runApp('httpbin', createHttpbinServer(), 8080);
