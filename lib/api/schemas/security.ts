/** security.istio.io shapes: PeerAuthentication and AuthorizationPolicy. */
import { cidrError } from '../names.js';
import { joinPath } from '../path.js';
import {
  type Check,
  isRecord,
  list,
  map,
  notSupported,
  obj,
  oneOf,
  reportInvalid,
  required,
  str,
  unsupported,
} from '../schema.js';
import { portStringError, workloadSelector } from './common.js';

const mtlsMode = oneOf(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

export const peerAuthenticationSpec = obj(
  {
    selector: workloadSelector,
    mtls: obj({ mode: mtlsMode }),
    portLevelMtls: map(obj({ mode: mtlsMode }), portStringError),
  },
  {
    check: (s, p, ctx) => {
      if (s.portLevelMtls !== undefined && s.selector === undefined) {
        reportInvalid(
          ctx,
          joinPath(p, 'portLevelMtls'),
          'portLevelMtls needs a selector (it applies to container ports of selected workloads)',
        );
      }
    },
  },
);

const nonEmptyStrings = (check?: (s: string) => string | undefined): Check =>
  list(str({ nonEmpty: true, ...(check ? { check } : {}) }), { minItems: 1 });

const cidrs = nonEmptyStrings(cidrError);
const ports = nonEmptyStrings(portStringError);
const paths = nonEmptyStrings((s) =>
  s === '*' || s.startsWith('/') || s.startsWith('*') || s.endsWith('*')
    ? undefined
    : `${JSON.stringify(s)} is not a path; expected one starting with "/" or using "*"`,
);

function notEmpty(what: string): (o: Record<string, unknown>, p: string, ctx: Parameters<Check>[2]) => void {
  return (o, p, ctx) => {
    if (Object.keys(o).length === 0) reportInvalid(ctx, p, `${what} must set at least one field`);
  };
}

const source = obj(
  {
    principals: nonEmptyStrings(),
    notPrincipals: nonEmptyStrings(),
    requestPrincipals: unsupported(nonEmptyStrings(), 'request authentication (JWT) is not implemented'),
    notRequestPrincipals: unsupported(nonEmptyStrings(), 'request authentication (JWT) is not implemented'),
    namespaces: nonEmptyStrings(),
    notNamespaces: nonEmptyStrings(),
    ipBlocks: cidrs,
    notIpBlocks: cidrs,
    remoteIpBlocks: cidrs,
    notRemoteIpBlocks: cidrs,
    serviceAccounts: unsupported(nonEmptyStrings(), 'use principals'),
    notServiceAccounts: unsupported(nonEmptyStrings(), 'use notPrincipals'),
  },
  { check: notEmpty('source') },
);

const operation = obj(
  {
    hosts: nonEmptyStrings(),
    notHosts: nonEmptyStrings(),
    ports,
    notPorts: ports,
    methods: nonEmptyStrings(),
    notMethods: nonEmptyStrings(),
    paths,
    notPaths: paths,
  },
  { check: notEmpty('operation') },
);

/** `when` keys the bundled runtime evaluates; other valid Istio keys are reported as not supported. */
const SUPPORTED_KEYS = ['source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'destination.port'];
const ISTIO_ONLY_KEYS = [
  'destination.ip',
  'connection.sni',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
];

const conditionKey: Check = (v, path, ctx) => {
  if (typeof v !== 'string' || v === '')
    return reportInvalid(ctx, path, 'expected a non-empty attribute name');
  if (SUPPORTED_KEYS.includes(v) || /^request\.headers\[[^\]]+\]$/.test(v)) return;
  if (
    ISTIO_ONLY_KEYS.includes(v) ||
    /^request\.auth\.claims\[.+\]$/.test(v) ||
    /^experimental\.envoy\.filters\./.test(v)
  ) {
    return notSupported(
      ctx,
      path,
      `${JSON.stringify(v)} is not supported by the bundled runtime; supported: request.headers[NAME], ${SUPPORTED_KEYS.join(', ')}`,
    );
  }
  reportInvalid(
    ctx,
    path,
    `unknown attribute ${JSON.stringify(v)}; expected request.headers[NAME], ${SUPPORTED_KEYS.join(', ')}, or another Istio condition key`,
  );
};

const condition = obj(
  { key: required(conditionKey), values: list(str()), notValues: list(str()) },
  {
    check: (c, p, ctx) => {
      if (c.values === undefined && c.notValues === undefined)
        reportInvalid(ctx, p, 'set values or notValues');
      const key = typeof c.key === 'string' ? c.key : '';
      const check =
        key === 'destination.port' ? portStringError : key.endsWith('.ip') ? cidrError : undefined;
      if (!check) return;
      for (const field of ['values', 'notValues']) {
        const vals = c[field];
        if (!Array.isArray(vals)) continue;
        vals.forEach((x, i) => {
          const problem = typeof x === 'string' ? check(x) : undefined;
          if (problem) reportInvalid(ctx, `${p}.${field}[${i}]`, problem);
        });
      }
    },
  },
);

const rule = obj({
  from: list(obj({ source: required(source) })),
  to: list(obj({ operation: required(operation) })),
  when: list(condition),
});

export const authorizationPolicySpec = obj(
  {
    selector: workloadSelector,
    targetRef: unsupported(),
    targetRefs: unsupported(),
    rules: list(rule),
    action: oneOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'], ['CUSTOM']),
    provider: obj({ name: required(str({ nonEmpty: true })) }),
  },
  {
    check: (s, p, ctx) => {
      if (s.action === 'CUSTOM' && !isRecord(s.provider)) {
        reportInvalid(ctx, joinPath(p, 'provider'), 'action CUSTOM needs a provider');
      }
      if (s.provider !== undefined && s.action !== 'CUSTOM') {
        reportInvalid(ctx, joinPath(p, 'provider'), 'provider can only be used with action CUSTOM');
      }
      if (s.selector !== undefined && (s.targetRef !== undefined || s.targetRefs !== undefined)) {
        reportInvalid(ctx, p, 'selector cannot be used with targetRef or targetRefs');
      }
      if (s.action === 'DENY' || s.action === 'AUDIT') {
        if (Array.isArray(s.rules) && s.rules.length === 0) {
          reportInvalid(ctx, joinPath(p, 'rules'), `a ${s.action} policy needs at least one rule`);
        }
      }
    },
  },
);
