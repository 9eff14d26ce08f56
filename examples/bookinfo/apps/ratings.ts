/** Bookinfo `ratings`: the stars each reviewer gave. */
import type http from 'node:http';
import { createAppServer, isMain, runApp, sendJson } from '../../shared/server.js';

export function createRatingsServer(log?: (line: string) => void): http.Server {
  return createAppServer(
    'ratings',
    (req, res) => {
      const path = new URL(req.url ?? '/', 'http://ratings').pathname;
      if (path === '/health') return sendJson(res, 200, { status: 'Ratings is healthy' });
      const m = /^\/ratings\/(\d+)$/.exec(path);
      if (req.method === 'GET' && m) {
        return sendJson(res, 200, { id: Number(m[1]), ratings: { Reviewer1: 5, Reviewer2: 4 } });
      }
      if (/^\/ratings\/[^/]*$/.test(path))
        return sendJson(res, 400, { error: 'please provide numeric product ID' });
      sendJson(res, 404, { error: 'not found' });
    },
    log,
  );
}

if (isMain(import.meta.url)) runApp('ratings', createRatingsServer(), 9080);
