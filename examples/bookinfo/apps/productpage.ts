/**
 * Bookinfo `productpage`: the HTML page and JSON API of the bookstore. It calls details (3 s
 * timeout, one attempt) and reviews (3 s timeout, two attempts), sends `end-user: <user>` for a
 * logged-in user, and still answers 200 with an error text when a call fails.
 */
import type http from 'node:http';
import { type CallResult, call, callWithRetries, forwardedHeaders } from '../../shared/http-client.js';
import { createAppServer, isMain, readBody, runApp, sendJson } from '../../shared/server.js';

export interface ProductpageConfig {
  /** `http://host:port` of details, reviews and ratings. */
  readonly detailsUrl: string;
  readonly reviewsUrl: string;
  readonly ratingsUrl: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function productpageConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ProductpageConfig {
  const domain = env.SERVICES_DOMAIN ? `.${env.SERVICES_DOMAIN}` : '';
  const url = (name: string) =>
    `http://${env[`${name.toUpperCase()}_HOSTNAME`] ?? name}${domain}:${env[`${name.toUpperCase()}_PORT`] ?? '9080'}`;
  return { detailsUrl: url('details'), reviewsUrl: url('reviews'), ratingsUrl: url('ratings'), env };
}

export const PRODUCT = {
  id: 0,
  title: 'The Comedy of Errors',
  descriptionHtml:
    '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
};

export const DETAILS_ERROR = 'Error fetching product details';
export const REVIEWS_ERROR = 'Error fetching product reviews';
const CALL_TIMEOUT_MS = 3000;
const USER = /^[A-Za-z0-9_.@-]{1,64}$/;

export function createProductpageServer(
  config: ProductpageConfig,
  log?: (line: string) => void,
): http.Server {
  const outbound = (req: http.IncomingMessage) => {
    const headers = forwardedHeaders(req.headers, ['user-agent']);
    const user = sessionUser(req);
    if (user) headers['end-user'] = user;
    return headers;
  };
  const details = (req: http.IncomingMessage, id: string) =>
    call(`${config.detailsUrl}/details/${id}`, {
      timeoutMs: CALL_TIMEOUT_MS,
      headers: outbound(req),
      env: config.env,
    });
  const reviews = (req: http.IncomingMessage, id: string) =>
    callWithRetries(`${config.reviewsUrl}/reviews/${id}`, {
      attempts: 2,
      timeoutMs: CALL_TIMEOUT_MS,
      headers: outbound(req),
      env: config.env,
    });
  const ratings = (req: http.IncomingMessage, id: string) =>
    call(`${config.ratingsUrl}/ratings/${id}`, {
      timeoutMs: CALL_TIMEOUT_MS,
      headers: outbound(req),
      env: config.env,
    });

  return createAppServer(
    'productpage',
    async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://productpage');
      const path = url.pathname;
      if (path === '/health') return sendJson(res, 200, { status: 'Product page is healthy' });
      if (path === '/' && req.method === 'GET') return sendHtml(res, 200, indexPage());
      if (path === '/login' && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const user = form.get('username') ?? '';
        if (!USER.test(user)) return sendHtml(res, 400, page('Login failed', '<p>Invalid user name.</p>'));
        res.writeHead(302, {
          location: '/productpage',
          'set-cookie': `session=${encodeURIComponent(user)}; Path=/; HttpOnly; SameSite=Lax`,
        });
        return res.end();
      }
      if (path === '/logout') {
        res.writeHead(302, { location: '/productpage', 'set-cookie': 'session=; Path=/; Max-Age=0' });
        return res.end();
      }
      if (path === '/productpage' && req.method === 'GET') {
        const [d, r] = await Promise.all([settle(details(req, '0')), settle(reviews(req, '0'))]);
        return sendHtml(res, 200, productPage(sessionUser(req), d, r));
      }
      if (path === '/api/v1/products' && req.method === 'GET') {
        return sendJson(res, 200, [PRODUCT]);
      }
      const m = /^\/api\/v1\/products\/(\d+)(\/reviews|\/ratings)?$/.exec(path);
      if (m && req.method === 'GET') {
        const [, id, sub] = m;
        const fetcher = sub === '/reviews' ? reviews : sub === '/ratings' ? ratings : details;
        const what = sub === '/reviews' ? 'reviews' : sub === '/ratings' ? 'ratings' : 'details';
        const result = await settle(fetcher(req, id));
        if (result && result.status === 200) return sendJson(res, 200, JSON.parse(result.body));
        return sendJson(res, result?.status ?? 503, {
          error: `Sorry, product ${what} are currently unavailable for this book.`,
        });
      }
      sendJson(res, 404, { error: 'not found' });
    },
    log,
  );
}

async function settle(p: Promise<CallResult>): Promise<CallResult | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

function sessionUser(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'session') {
      const user = decodeURIComponent(v.join('='));
      return USER.test(user) ? user : undefined;
    }
  }
  return undefined;
}

function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"><title>Simple Bookstore App</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body>\n</html>\n`;
}

function indexPage(): string {
  return page(
    'Hello! This is a simple bookstore application consisting of four services.',
    '<p>Click on one of the links below to auto generate a request to the backend as a real user or a tester</p>\n<p><a href="/productpage?u=normal">Normal user</a></p>\n<p><a href="/productpage?u=test">Test user</a></p>',
  );
}

function productPage(user: string | undefined, details?: CallResult, reviews?: CallResult): string {
  const login = user
    ? `<p>Signed in as <b>${escapeHtml(user)}</b> · <a href="/logout">Sign out</a></p>`
    : '<form method="post" action="/login"><input name="username" placeholder="User Name"><input name="passwd" type="password" placeholder="Password"><button type="submit">Sign in</button></form>';
  let detailsHtml: string;
  if (details?.status === 200) {
    const d = JSON.parse(details.body);
    detailsHtml = `<dl>${['type', 'pages', 'publisher', 'language', 'ISBN-10', 'ISBN-13']
      .map((k) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(d[k])}</dd>`)
      .join('')}</dl>`;
  } else {
    detailsHtml = `<h4>${DETAILS_ERROR}!</h4><p>Sorry, product details are currently unavailable for this book.</p>`;
  }
  let reviewsHtml: string;
  if (reviews?.status === 200) {
    const r = JSON.parse(reviews.body);
    reviewsHtml = (r.reviews as any[])
      .map((rev) => {
        let rating = '';
        if (rev.rating?.error) rating = `<p><i>${escapeHtml(rev.rating.error)}</i></p>`;
        else if (rev.rating?.stars !== undefined) {
          const stars = Number(rev.rating.stars);
          rating = `<p><span style="color:${escapeHtml(rev.rating.color)}">${'★'.repeat(stars)}${'☆'.repeat(Math.max(0, 5 - stars))}</span></p>`;
        }
        return `<blockquote><p>${escapeHtml(rev.text)}</p><small>${escapeHtml(rev.reviewer)}</small>${rating}</blockquote>`;
      })
      .join('\n');
    reviewsHtml += `\n<p><small>Reviews served by: ${escapeHtml(r.podname)}</small></p>`;
  } else {
    reviewsHtml = `<h4>${REVIEWS_ERROR}!</h4><p>Sorry, product reviews are currently unavailable for this book.</p>`;
  }
  return page(
    PRODUCT.title,
    `${login}\n<p>${PRODUCT.descriptionHtml}</p>\n<h2>Book Details</h2>\n${detailsHtml}\n<h2>Book Reviews</h2>\n${reviewsHtml}`,
  );
}

if (isMain(import.meta.url)) runApp('productpage', createProductpageServer(productpageConfigFromEnv()), 9080);
