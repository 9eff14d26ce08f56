/**
 * The example apps on ephemeral loopback ports, called over real sockets.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDetailsServer } from '../../examples/bookinfo/apps/details.js';
import { createProductpageServer } from '../../examples/bookinfo/apps/productpage.js';
import { createRatingsServer } from '../../examples/bookinfo/apps/ratings.js';
import { createReviewsServer } from '../../examples/bookinfo/apps/reviews.js';
import { createHttpbinServer } from '../../examples/httpbin/apps/httpbin.js';
import { call } from '../../examples/shared/http-client.js';

const servers: http.Server[] = [];
const quiet = () => {};

async function listen(server: http.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An upstream that records what it receives and answers with `answer`. */
async function recorder(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: http.IncomingMessage[] = [];
  const url = await listen(
    http.createServer((req, res) => {
      seen.push(req);
      answer(req, res);
    }),
  );
  return { url, seen };
}

/** A port nothing listens on. */
async function closedUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

const get = (url: string, headers: Record<string, string> = {}) =>
  call(url, { timeoutMs: 5000, headers, env: {} });
const json = (body: string) => JSON.parse(body);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('bookinfo apps', async () => {
  const ratings = await listen(createRatingsServer(quiet));
  const details = await listen(createDetailsServer(quiet));
  const reviewsFor = (
    starColor: string,
    enableRatings: boolean,
    ratingsUrl = ratings,
    ratingsTimeoutMs = 2000,
  ) =>
    listen(
      createReviewsServer(
        { enableRatings, starColor, ratingsUrl, ratingsTimeoutMs, podName: `reviews-${starColor}`, env: {} },
        quiet,
      ),
    );
  const reviewsV1 = await reviewsFor('black', false);
  const reviewsV2 = await reviewsFor('black', true);
  const reviewsV3 = await reviewsFor('red', true);

  it('ratings returns the ratings of both reviewers', async () => {
    const r = await get(`${ratings}/ratings/0`);
    expect(r.status).toBe(200);
    expect(json(r.body)).toEqual({ id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    expect((await get(`${ratings}/health`)).status).toBe(200);
  });

  it('details returns the book’s details', async () => {
    const r = await get(`${details}/details/0`);
    expect(json(r.body)).toMatchObject({
      id: 0,
      author: 'William Shakespeare',
      'ISBN-10': '1234567890',
      type: 'paperback',
    });
    expect((await get(`${details}/details/x`)).status).toBe(400);
  });

  it('reviews v1 has no ratings, v2 black stars, v3 red stars, with the pod name', async () => {
    const v1 = json((await get(`${reviewsV1}/reviews/0`)).body);
    expect(v1.reviews.map((r: any) => r.reviewer)).toEqual(['Reviewer1', 'Reviewer2']);
    expect(v1.reviews[0].rating).toBeUndefined();
    expect(v1.podname).toBe('reviews-black');
    const v2 = json((await get(`${reviewsV2}/reviews/0`)).body);
    expect(v2.reviews.map((r: any) => r.rating)).toEqual([
      { stars: 5, color: 'black' },
      { stars: 4, color: 'black' },
    ]);
    const v3 = json((await get(`${reviewsV3}/reviews/0`)).body);
    expect(v3.reviews[1].rating).toEqual({ stars: 4, color: 'red' });
  });

  it('reviews says ratings is unavailable when ratings is down or too slow, and forwards end-user and trace headers', async () => {
    const down = await reviewsFor('black', true, await closedUrl());
    const r = json((await get(`${down}/reviews/0`)).body);
    expect(r.reviews.map((x: any) => x.rating)).toEqual([
      { error: 'Ratings service is currently unavailable' },
      { error: 'Ratings service is currently unavailable' },
    ]);
    const slow = await recorder((_req, res) => setTimeout(() => res.end('{}'), 1000));
    const impatient = await reviewsFor('red', true, slow.url, 150);
    const headers = {
      'end-user': 'jason',
      'x-request-id': 'rid-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-traceid': 'abc',
    };
    const s = json((await get(`${impatient}/reviews/0`, headers)).body);
    expect(s.reviews[0].rating).toEqual({ error: 'Ratings service is currently unavailable' });
    expect(slow.seen[0].headers).toMatchObject(headers);
  });

  it('productpage renders the page with details and reviews', async () => {
    const pp = await listen(
      createProductpageServer(
        { detailsUrl: details, reviewsUrl: reviewsV3, ratingsUrl: ratings, env: {} },
        quiet,
      ),
    );
    const r = await get(`${pp}/productpage`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('<title>Simple Bookstore App</title>');
    expect(r.body).toContain('Book Details');
    expect(r.body).toContain('Book Reviews');
    expect(r.body).toContain('ISBN-13');
    expect(r.body).toContain('Reviewer2');
    expect(r.body).toContain('color:red');
    expect(r.body).not.toContain('Error fetching');
    expect(json((await get(`${pp}/api/v1/products`)).body)[0]).toMatchObject({
      id: 0,
      title: 'The Comedy of Errors',
    });
    expect(json((await get(`${pp}/api/v1/products/0`)).body)).toMatchObject({
      author: 'William Shakespeare',
    });
    expect(json((await get(`${pp}/api/v1/products/0/reviews`)).body).reviews).toHaveLength(2);
    expect(json((await get(`${pp}/api/v1/products/0/ratings`)).body)).toEqual({
      id: 0,
      ratings: { Reviewer1: 5, Reviewer2: 4 },
    });
    expect(json((await get(`${pp}/health`)).body)).toEqual({ status: 'Product page is healthy' });
  });

  it('productpage still answers 200 with the error texts when details and reviews are down', async () => {
    const closed = await closedUrl();
    const pp = await listen(
      createProductpageServer({ detailsUrl: closed, reviewsUrl: closed, ratingsUrl: closed, env: {} }, quiet),
    );
    const r = await get(`${pp}/productpage`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('Error fetching product details');
    expect(r.body).toContain('Error fetching product reviews');
    const api = await get(`${pp}/api/v1/products/0/reviews`);
    expect(api.status).toBe(503);
  });

  it('productpage logs in with a session cookie and sends end-user and trace headers; reviews gets two attempts', async () => {
    let reviewCalls = 0;
    const upstream = await recorder((req, res) => {
      if (req.url?.startsWith('/reviews')) {
        reviewCalls++;
        if (reviewCalls === 1) {
          res.writeHead(503).end();
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ podname: 'x', reviews: [] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'paperback' }));
    });
    const pp = await listen(
      createProductpageServer(
        { detailsUrl: upstream.url, reviewsUrl: upstream.url, ratingsUrl: upstream.url, env: {} },
        quiet,
      ),
    );
    const login = await call(`${pp}/login`, {
      method: 'POST',
      timeoutMs: 5000,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=jason&passwd=x',
      env: {},
    });
    expect(login.status).toBe(302);
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    expect(cookie).toBe('session=jason');
    const trace = { 'x-request-id': 'req-42', tracestate: 'a=b', 'x-b3-spanid': 's1', 'x-b3-sampled': '1' };
    const page = await get(`${pp}/productpage`, { cookie, ...trace });
    expect(page.body).toContain('jason');
    expect(page.body).not.toContain('Error fetching product reviews');
    expect(reviewCalls).toBe(2);
    for (const req of upstream.seen) expect(req.headers).toMatchObject({ 'end-user': 'jason', ...trace });
    const logout = await get(`${pp}/logout`, { cookie });
    expect(logout.status).toBe(302);
    expect(String(logout.headers['set-cookie'])).toContain('Max-Age=0');
    const bad = await call(`${pp}/login`, {
      method: 'POST',
      timeoutMs: 5000,
      body: 'username=<script>',
      env: {},
    });
    expect(bad.status).toBe(400);
  });
});

describe('httpbin', async () => {
  const httpbin = await listen(createHttpbinServer(quiet));

  it('reports the headers it received, including the client-certificate header', async () => {
    const xfcc = 'By=spiffe://cluster.local/ns/foo/sa/httpbin;URI=spiffe://cluster.local/ns/foo/sa/sleep';
    const r = json(
      (await get(`${httpbin}/headers`, { 'x-forwarded-client-cert': xfcc, 'x-custom': 'a' })).body,
    );
    expect(r.headers['X-Forwarded-Client-Cert']).toBe(xfcc);
    expect(r.headers['X-Custom']).toBe('a');
  });

  it('serves /get, /post, /anything, /ip, /status and /delay', async () => {
    expect(json((await get(`${httpbin}/get?a=1&b=2&b=3`)).body).args).toEqual({ a: '1', b: ['2', '3'] });
    const post = await call(`${httpbin}/post`, {
      method: 'POST',
      timeoutMs: 5000,
      headers: { 'content-type': 'application/json' },
      body: '{"x":1}',
      env: {},
    });
    expect(json(post.body)).toMatchObject({ json: { x: 1 }, data: '{"x":1}' });
    expect(
      json(
        (await call(`${httpbin}/anything/x`, { method: 'PUT', timeoutMs: 5000, body: 'hi', env: {} })).body,
      ),
    ).toMatchObject({
      method: 'PUT',
      data: 'hi',
    });
    expect(json((await get(`${httpbin}/ip`)).body)).toEqual({ origin: '127.0.0.1' });
    expect((await get(`${httpbin}/status/418`)).status).toBe(418);
    const started = Date.now();
    expect((await get(`${httpbin}/delay/1`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await get(`${httpbin}/nothing`)).status).toBe(404);
  });
});

describe('the shared HTTP client', () => {
  it('sends absolute-form requests to HTTP_PROXY when set', async () => {
    const proxy = await recorder((_req, res) => res.end('via proxy'));
    const r = await call('http://reviews:9080/reviews/0?x=1', {
      timeoutMs: 2000,
      headers: { 'end-user': 'jason' },
      env: { HTTP_PROXY: proxy.url },
    });
    expect(r.body).toBe('via proxy');
    expect(proxy.seen[0].url).toBe('http://reviews:9080/reviews/0?x=1');
    expect(proxy.seen[0].headers.host).toBe('reviews:9080');
    const lower = await call('http://ratings:9080/', { timeoutMs: 2000, env: { http_proxy: proxy.url } });
    expect(lower.body).toBe('via proxy');
    expect(proxy.seen[1].url).toBe('http://ratings:9080/');
  });

  it('times out a call', async () => {
    const slow = await recorder((_req, res) => setTimeout(() => res.end('late'), 1000));
    await expect(call(`${slow.url}/`, { timeoutMs: 100, env: {} })).rejects.toThrow(/timed out after 100 ms/);
  });
});

describe('apps as processes', () => {
  const root = join(import.meta.dirname, '../..');
  const start = (file: string, env: Record<string, string>) =>
    spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const exited = (child: ReturnType<typeof spawn>) =>
    new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  it('an app listens on PORT at TSMESH_POD_IP, logs one line per request and exits 0 on SIGTERM', async () => {
    const child = start('examples/bookinfo/apps/details.ts', { PORT: '0', TSMESH_POD_IP: '127.0.0.1' });
    const done = exited(child);
    let out = '';
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const r = await get(`http://${address}/details/0`);
    expect(r.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/details GET \/details\/0 200/);
    child.kill('SIGTERM');
    expect(await done).toBe(0);
  }, 30_000);

  it('sleep idles until SIGTERM and exits 0', async () => {
    const child = start('examples/shared/sleep.ts', {});
    const done = exited(child);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGTERM');
    expect(await done).toBe(0);
  }, 30_000);
});
