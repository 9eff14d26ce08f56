/**
 * Bookinfo as a mesh program: the seed's 75/25 canary of reviews v1/v2, `end-user: jason` to v2,
 * retries and a timeout on ratings, a circuit breaker on details, STRICT mTLS and authorization
 * that lets each service call only what it needs. Synthesized to dist/bookinfo.k8s.yaml.
 */
import { Chart, Duration } from 'cdk8s';
import type { Construct } from 'constructs';
import {
  CanaryRoute,
  CircuitBreaker,
  HeaderMatch,
  HttpMethod,
  HttpRetryEvent,
  HttpRoute,
  IngressGateway,
  Mesh,
  type MeshTarget,
  MtlsMode,
  PathMatch,
  RetryPolicy,
} from '../../constructs/index.js';
import { exampleTrustBundle } from '../pki.js';
import { addSleep } from '../shared/sleep-service.js';
import { addBookinfoServices } from './services.js';

export interface BookinfoProps {
  /** @default MeshTarget.BUNDLED */
  readonly target?: MeshTarget;
  /** @default - the examples' public test root */
  readonly trustBundle?: string;
}

export class BookinfoChart extends Chart {
  public readonly mesh: Mesh;

  public constructor(scope: Construct, id: string, props: BookinfoProps = {}) {
    super(scope, id, { disableResourceNameHashes: true });
    const mesh = new Mesh(this, 'mesh', {
      target: props.target,
      trustBundle: props.trustBundle ?? exampleTrustBundle(),
      mtls: MtlsMode.STRICT,
    });
    this.mesh = mesh;
    const { productpage, details, reviews, ratings } = addBookinfoServices(this, mesh);
    const sleep = addSleep(this, 'sleep', { mesh });

    const gateway = new IngressGateway(this, 'ingress', { mesh });
    gateway.addRoute('bookinfo', {
      service: productpage,
      match: [
        { path: PathMatch.exact('/productpage') },
        { path: PathMatch.prefix('/static') },
        { path: PathMatch.exact('/login') },
        { path: PathMatch.exact('/logout') },
        { path: PathMatch.prefix('/api/v1/products') },
      ],
    });

    // reviews: jason sees v2; everyone else is on the 75/25 canary of v1/v2.
    new HttpRoute(this, 'jason', {
      service: reviews,
      match: [{ headers: [HeaderMatch.exact('end-user', 'jason')] }],
      to: [{ version: 'v2' }],
    });
    new CanaryRoute(this, 'reviews-canary', {
      service: reviews,
      stable: 'v1',
      canary: 'v2',
      canaryPercent: 25,
    });

    // ratings: a bounded call with retries on gateway errors (GET only, so replays are safe).
    new HttpRoute(this, 'ratings-route', {
      name: 'ratings',
      service: ratings,
      timeout: Duration.seconds(3),
      retryPolicy: RetryPolicy.http({
        attempts: 2,
        perTryTimeout: Duration.seconds(1),
        httpRetryEvents: [
          HttpRetryEvent.GATEWAY_ERROR,
          HttpRetryEvent.CONNECT_FAILURE,
          HttpRetryEvent.REFUSED_STREAM,
        ],
      }),
    });

    new CircuitBreaker(this, 'details-breaker', {
      service: details,
      connectionPool: { maxConnections: 10, http1MaxPendingRequests: 5, http2MaxRequests: 10 },
      outlierDetection: {
        consecutive5xxErrors: 5,
        interval: Duration.seconds(10),
        baseEjectionTime: Duration.seconds(30),
        maxEjectionPercent: 100,
      },
    });

    // Least privilege: each service accepts only the callers that need it.
    const read = { methods: [HttpMethod.GET] };
    productpage.allowFrom([gateway, sleep], { methods: [HttpMethod.GET, HttpMethod.POST] });
    details.allowFrom(productpage, read);
    reviews.allowFrom([productpage, sleep], read);
    ratings.allowFrom([reviews, productpage], read);
  }
}
