/** tsmesh.dev MeshConfig: mesh-wide settings (lib/api/types.ts MeshConfigSpec). */
import { dnsLabelError, hostError } from '../names.js';
import { bool, duration, int, num, obj, oneOf, str } from '../schema.js';
import { outboundTrafficPolicyMode } from './common.js';

const retry = obj({
  attempts: int({ min: 0 }),
  perTryTimeout: duration(),
  retryOn: str(),
  backoff: duration(),
});

export const meshConfigSpec = obj({
  trustDomain: str({ nonEmpty: true, check: (s) => hostError(s, { allowStar: false }) }),
  rootNamespace: str({ nonEmpty: true, check: dnsLabelError }),
  outboundTrafficPolicy: obj({ mode: outboundTrafficPolicyMode }),
  pathNormalization: oneOf(['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']),
  accessLogging: bool,
  traceSampling: num({ min: 0, max: 100 }),
  tracingCollector: str(),
  defaultHttpRetryPolicy: retry,
  defaultTimeout: duration({ minMs: 0 }),
  certificateTtl: duration(),
  drainDuration: duration(),
});
