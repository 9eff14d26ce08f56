/** Bookinfo `details`: the book's details as JSON. */
import type http from 'node:http';
import { createAppServer, isMain, runApp, sendJson } from '../../shared/server.js';

export function bookDetails(id: number) {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

export function createDetailsServer(log?: (line: string) => void): http.Server {
  return createAppServer(
    'details',
    (req, res) => {
      const path = new URL(req.url ?? '/', 'http://details').pathname;
      if (path === '/health') return sendJson(res, 200, { status: 'Details is healthy' });
      const m = /^\/details\/(\d+)$/.exec(path);
      if (req.method === 'GET' && m) return sendJson(res, 200, bookDetails(Number(m[1])));
      if (/^\/details\/[^/]*$/.test(path))
        return sendJson(res, 400, { error: 'please provide numeric product id' });
      sendJson(res, 404, { error: 'not found' });
    },
    log,
  );
}

if (isMain(import.meta.url)) runApp('details', createDetailsServer(), 9080);
