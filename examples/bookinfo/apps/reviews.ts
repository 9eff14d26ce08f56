/**
 * Bookinfo `reviews`: two reviews of the book. v1 (ENABLE_RATINGS=false) shows no stars; v2 calls
 * ratings with a 10 s timeout and shows black stars; v3 calls ratings with a 2.5 s timeout and
 * shows red stars (STAR_COLOR=red).
 */
import type http from 'node:http';
import { call, forwardedHeaders } from '../../shared/http-client.js';
import { createAppServer, isMain, runApp, sendJson } from '../../shared/server.js';

export interface ReviewsConfig {
  readonly enableRatings: boolean;
  readonly starColor: string;
  /** `http://host:port` of ratings. */
  readonly ratingsUrl: string;
  readonly ratingsTimeoutMs: number;
  readonly podName: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function reviewsConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ReviewsConfig {
  const starColor = env.STAR_COLOR ?? 'black';
  const host = env.RATINGS_HOSTNAME ?? 'ratings';
  const domain = env.SERVICES_DOMAIN ? `.${env.SERVICES_DOMAIN}` : '';
  return {
    enableRatings: (env.ENABLE_RATINGS ?? 'false') === 'true',
    starColor,
    ratingsUrl: `http://${host}${domain}:${env.RATINGS_PORT ?? '9080'}`,
    ratingsTimeoutMs: Number(env.RATINGS_TIMEOUT_MS ?? (starColor === 'red' ? 2500 : 10000)),
    podName: env.TSMESH_POD_NAME ?? env.HOSTNAME ?? 'reviews',
    env,
  };
}

const REVIEWS = [
  {
    reviewer: 'Reviewer1',
    text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
  },
];

export function createReviewsServer(config: ReviewsConfig, log?: (line: string) => void): http.Server {
  return createAppServer(
    'reviews',
    async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://reviews').pathname;
      if (path === '/health') return sendJson(res, 200, { status: 'Reviews is healthy' });
      const m = /^\/reviews\/(\d+)$/.exec(path);
      if (req.method !== 'GET' || !m) return sendJson(res, 404, { error: 'not found' });
      const id = m[1];
      let ratings: Record<string, number> | undefined;
      let ratingsError = false;
      if (config.enableRatings) {
        try {
          const r = await call(`${config.ratingsUrl}/ratings/${id}`, {
            timeoutMs: config.ratingsTimeoutMs,
            headers: forwardedHeaders(req.headers, ['end-user', 'user-agent']),
            env: config.env,
          });
          if (r.status !== 200) throw new Error(`ratings answered ${r.status}`);
          ratings = JSON.parse(r.body).ratings;
        } catch (err) {
          // The answer only says ratings are unavailable; the log says why.
          (log ?? console.log)(`reviews: ratings call failed: ${(err as Error).message}`);
          ratingsError = true;
        }
      }
      sendJson(res, 200, {
        id,
        podname: config.podName,
        clustername: 'null',
        reviews: REVIEWS.map((r) => {
          if (!config.enableRatings) return { ...r };
          if (ratingsError || !ratings) {
            return { ...r, rating: { error: 'Ratings service is currently unavailable' } };
          }
          return { ...r, rating: { stars: ratings[r.reviewer], color: config.starColor } };
        }),
      });
    },
    log,
  );
}

if (isMain(import.meta.url)) runApp('reviews', createReviewsServer(reviewsConfigFromEnv()), 9080);
