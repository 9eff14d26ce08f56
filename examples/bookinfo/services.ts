/** Bookinfo's four services, as in Istio's sample: every service on port 9080, port name `http`. */
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { type Mesh, MeshService, ServicePort } from '../../constructs/index.js';

export interface BookinfoServices {
  readonly productpage: MeshService;
  readonly details: MeshService;
  readonly reviews: MeshService;
  readonly ratings: MeshService;
}

const IMAGE_TAG = '1.20.3';
const image = (name: string) => `docker.io/istio/examples-bookinfo-${name}:${IMAGE_TAG}`;
const app = (name: string) => ['node', `build/examples/bookinfo/apps/${name}.js`];

export function addBookinfoServices(
  scope: Construct,
  mesh: Mesh,
  options: { allowUnroutedReviews?: boolean } = {},
): BookinfoServices {
  const common = (name: string) => ({
    mesh,
    serviceAccountName: `bookinfo-${name}`,
    ports: [ServicePort.http(9080)],
    workload: { readiness: kplus.Probe.fromHttpGet('/health', { port: 9080 }) },
  });
  const productpage = new MeshService(scope, 'productpage', {
    ...common('productpage'),
    versions: { v1: { image: image('productpage-v1'), localCommand: app('productpage') } },
  });
  const details = new MeshService(scope, 'details', {
    ...common('details'),
    versions: { v1: { image: image('details-v1'), localCommand: app('details') } },
  });
  const ratings = new MeshService(scope, 'ratings', {
    ...common('ratings'),
    versions: { v1: { image: image('ratings-v1'), localCommand: app('ratings') } },
  });
  const reviews = new MeshService(scope, 'reviews', {
    ...common('reviews'),
    allowUnrouted: options.allowUnroutedReviews,
    // The upstream reviews image writes under its server directory.
    workload: { ...common('reviews').workload, localCommand: app('reviews'), readOnlyRootFilesystem: false },
    versions: {
      v1: { image: image('reviews-v1'), env: { ENABLE_RATINGS: 'false' } },
      v2: { image: image('reviews-v2'), env: { ENABLE_RATINGS: 'true', STAR_COLOR: 'black' } },
      v3: { image: image('reviews-v3'), env: { ENABLE_RATINGS: 'true', STAR_COLOR: 'red' } },
    },
  });
  return { productpage, details, reviews, ratings };
}
