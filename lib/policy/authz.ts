/**
 * AuthorizationPolicy evaluation. Policies are compiled once per workload
 * (`compileAuthorization`), then every request or connection is checked with `authorize`:
 * CUSTOM (not supported: denies, fail closed), then DENY (any match denies), then ALLOW (no
 * ALLOW policy → allow; a matching one → allow; otherwise deny). AUDIT never changes the result.
 */
import type {
  AuthorizationPolicy,
  AuthzCondition,
  AuthzOperation,
  AuthzSource,
  MeshObject,
} from '../api/types.js';
import { parseAuthority } from '../hosts.js';
import { parseSpiffeId, principalOf } from '../identity.js';
import { labelsMatch, namespaceOf, nsName, ofKind } from '../routing/objects.js';
import { type Cidr, cidrContains, parseCidr } from './cidr.js';
import { DEFAULT_ROOT_NAMESPACES } from './mtls.js';

export interface AuthzRequest {
  /** The peer's SPIFFE id (`spiffe://...`), only when it came over verified mTLS. */
  principal?: string;
  sourceIp?: string;
  /** The peer's namespace; derived from `principal` when absent. */
  sourceNamespace?: string;
  /** The request's host (Host/:authority) for HTTP; the destination address for TCP. */
  host: string;
  /** The destination (container) port. */
  port: number;
  method?: string;
  /** The normalized path (without query). */
  path?: string;
  /** Lower-case names, first value. */
  headers?: Readonly<Record<string, string | undefined>>;
  protocol: 'http' | 'tcp';
}

export interface AuthzDecision {
  allowed: boolean;
  action: 'ALLOW' | 'DENY';
  /** `namespace/name` of the deciding policy, when one decided. */
  policy?: string;
  /** Index in the deciding policy's `rules`. */
  ruleIndex?: number;
  reason: string;
  /** The first AUDIT policy that matched (informational; never changes the decision). */
  audit?: { policy: string; ruleIndex: number };
}

type Check = (req: AuthzRequest) => boolean;

interface CompiledRule {
  /** Each returns true when the condition holds; HTTP-only ones know the protocol rule. */
  checks: Check[];
  /** The verdict this rule gives when it decides (precomputed, shared between requests). */
  decision: AuthzDecision;
  index: number;
}

interface CompiledPolicy {
  ref: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  rules: CompiledRule[];
}

export interface CompiledAuthorization {
  readonly kind: 'CompiledAuthorization';
  readonly custom: readonly CompiledPolicy[];
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly audit: readonly CompiledPolicy[];
  /** The verdicts when no rule decides. */
  readonly noAllowPolicy: AuthzDecision;
  readonly noAllowMatch: AuthzDecision;
}

export interface AuthorizationOptions {
  /** Root namespaces (the control plane's first); their policies apply in every namespace. */
  rootNamespaces?: readonly string[];
}

/** The AuthorizationPolicies that apply to a workload: its namespace's and the root namespaces'. */
export function policiesFor(
  objects: readonly MeshObject[],
  workload: { namespace: string; labels: Readonly<Record<string, string>> },
  options: AuthorizationOptions = {},
): AuthorizationPolicy[] {
  const roots = options.rootNamespaces ?? DEFAULT_ROOT_NAMESPACES;
  return ofKind(objects, 'AuthorizationPolicy')
    .filter((p) => {
      const ns = namespaceOf(p);
      if (ns !== workload.namespace && !roots.includes(ns)) return false;
      return labelsMatch(p.spec?.selector?.matchLabels, workload.labels);
    })
    .sort((a, b) => (nsName(a) < nsName(b) ? -1 : nsName(a) > nsName(b) ? 1 : 0));
}

function ruleDecision(action: CompiledPolicy['action'], policy: string, ruleIndex: number): AuthzDecision {
  switch (action) {
    case 'CUSTOM':
      return {
        allowed: false,
        action: 'DENY',
        policy,
        ruleIndex,
        reason: `CUSTOM policy ${policy} is not supported by the bundled runtime; denied (fail closed)`,
      };
    case 'DENY':
      return {
        allowed: false,
        action: 'DENY',
        policy,
        ruleIndex,
        reason: `denied by rule ${ruleIndex} of DENY policy ${policy}`,
      };
    default:
      return {
        allowed: true,
        action: 'ALLOW',
        policy,
        ruleIndex,
        reason: `allowed by rule ${ruleIndex} of ${action} policy ${policy}`,
      };
  }
}

/** Compiles the policies that apply to one workload. */
export function compileAuthorization(
  objects: readonly MeshObject[],
  workload: { namespace: string; labels: Readonly<Record<string, string>> },
  options: AuthorizationOptions = {},
): CompiledAuthorization {
  const out = {
    custom: [] as CompiledPolicy[],
    deny: [] as CompiledPolicy[],
    allow: [] as CompiledPolicy[],
    audit: [] as CompiledPolicy[],
  };
  for (const p of policiesFor(objects, workload, options)) {
    const action = p.spec?.action ?? 'ALLOW';
    const ref = nsName(p);
    const deny = action === 'DENY' || action === 'CUSTOM';
    const compiled: CompiledPolicy = {
      ref,
      action,
      rules: (p.spec?.rules ?? []).map((r, i) => ({
        checks: compileChecks(r, deny),
        decision: ruleDecision(action, ref, i),
        index: i,
      })),
    };
    if (action === 'DENY') out.deny.push(compiled);
    else if (action === 'AUDIT') out.audit.push(compiled);
    else if (action === 'CUSTOM') out.custom.push(compiled);
    else out.allow.push(compiled);
  }
  return {
    kind: 'CompiledAuthorization',
    ...out,
    noAllowPolicy: { allowed: true, action: 'ALLOW', reason: 'no ALLOW policy applies to the workload' },
    noAllowMatch: {
      allowed: false,
      action: 'DENY',
      reason: `no rule of the ALLOW policies (${out.allow.map((p) => p.ref).join(', ')}) matches`,
    },
  };
}

function ruleMatches(rule: CompiledRule, req: AuthzRequest): boolean {
  const checks = rule.checks;
  for (let i = 0; i < checks.length; i++) if (!checks[i](req)) return false;
  return true;
}

function firstMatch(policies: readonly CompiledPolicy[], req: AuthzRequest): CompiledRule | undefined {
  for (let p = 0; p < policies.length; p++) {
    const rules = policies[p].rules;
    for (let i = 0; i < rules.length; i++) if (ruleMatches(rules[i], req)) return rules[i];
  }
  return undefined;
}

/**
 * Decides one request (HTTP) or connection (TCP). The returned verdict is shared between
 * requests (treat it as read-only) unless an AUDIT policy matched.
 */
export function authorize(compiled: CompiledAuthorization, req: AuthzRequest): AuthzDecision {
  const verdict =
    firstMatch(compiled.custom, req)?.decision ??
    firstMatch(compiled.deny, req)?.decision ??
    (compiled.allow.length === 0
      ? compiled.noAllowPolicy
      : (firstMatch(compiled.allow, req)?.decision ?? compiled.noAllowMatch));
  if (compiled.audit.length === 0) return verdict;
  const audit = firstMatch(compiled.audit, req)?.decision;
  return audit ? { ...verdict, audit: { policy: audit.policy!, ruleIndex: audit.ruleIndex! } } : verdict;
}

// ---------------------------------------------------------------- rule compilation

/** Istio's string forms: exact, `prefix*`, `*suffix`, `*`. */
export function stringMatcher(pattern: string, ignoreCase = false): (value: string) => boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const norm = ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v;
  if (p === '*') return () => true;
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => norm(v).endsWith(suffix);
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => norm(v).startsWith(prefix);
  }
  return (v) => norm(v) === p;
}

function anyMatcher(ms: readonly ((value: string) => boolean)[], v: string): boolean {
  for (let i = 0; i < ms.length; i++) if (ms[i](v)) return true;
  return false;
}

function anyOf(patterns: readonly string[], ignoreCase = false): (value: string) => boolean {
  const ms = patterns.map((p) => stringMatcher(p, ignoreCase));
  return (v) => anyMatcher(ms, v);
}

/**
 * A positive/negative field pair over one request attribute. `httpOnly` fields on a TCP
 * connection count as matching in DENY rules and not matching otherwise (fail closed).
 */
function field(
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  get: (req: AuthzRequest) => string | undefined,
  options: {
    ignoreCase?: boolean;
    httpOnly?: boolean;
    denyRule: boolean;
    matcher?: (list: readonly string[]) => (v: string) => boolean;
  },
): Check[] {
  const make = options.matcher ?? ((list: readonly string[]) => anyOf(list, options.ignoreCase));
  const checks: Check[] = [];
  const tcpResult = options.denyRule;
  if (values && values.length > 0) {
    const m = make(values);
    checks.push((req) => {
      if (options.httpOnly && req.protocol === 'tcp') return tcpResult;
      const v = get(req);
      return v !== undefined && m(v);
    });
  }
  if (notValues && notValues.length > 0) {
    const m = make(notValues);
    checks.push((req) => {
      if (options.httpOnly && req.protocol === 'tcp') return tcpResult;
      const v = get(req);
      return v === undefined || !m(v);
    });
  }
  return checks;
}

function principal(req: AuthzRequest): string | undefined {
  return req.principal === undefined ? undefined : principalOf(req.principal);
}

function sourceNamespace(req: AuthzRequest): string | undefined {
  if (req.sourceNamespace !== undefined) return req.sourceNamespace;
  return req.principal === undefined ? undefined : parseSpiffeId(req.principal)?.namespace;
}

function ipMatcher(list: readonly string[]): (v: string) => boolean {
  const blocks: Cidr[] = list.map(parseCidr);
  return (v) => blocks.some((b) => cidrContains(b, v));
}

function hostOnly(req: AuthzRequest): string {
  return parseAuthority(req.host).host;
}

function sourceChecks(s: AuthzSource, deny: boolean): Check[] {
  return [
    ...field(s.principals, s.notPrincipals, principal, { denyRule: deny }),
    // No JWT authentication in the bundled runtime: a request principal is never present.
    ...field(s.requestPrincipals, s.notRequestPrincipals, () => undefined, {
      denyRule: deny,
      httpOnly: true,
    }),
    ...field(s.namespaces, s.notNamespaces, sourceNamespace, { denyRule: deny }),
    ...field(s.ipBlocks, s.notIpBlocks, (r) => r.sourceIp, { denyRule: deny, matcher: ipMatcher }),
    ...field(s.remoteIpBlocks, s.notRemoteIpBlocks, (r) => r.sourceIp, {
      denyRule: deny,
      matcher: ipMatcher,
    }),
  ];
}

function operationChecks(o: AuthzOperation, deny: boolean): Check[] {
  return [
    ...field(o.hosts, o.notHosts, (r) => (r.protocol === 'http' ? hostOnly(r) : undefined), {
      denyRule: deny,
      httpOnly: true,
      ignoreCase: true,
      matcher: (list) => {
        const ms = list.map((p) => stringMatcher(parseAuthority(p).host || p, true));
        return (v) => anyMatcher(ms, v);
      },
    }),
    ...field(o.ports, o.notPorts, (r) => String(r.port), { denyRule: deny }),
    ...field(o.methods, o.notMethods, (r) => r.method, { denyRule: deny, httpOnly: true }),
    ...field(o.paths, o.notPaths, (r) => r.path, { denyRule: deny, httpOnly: true }),
  ];
}

const HEADER_KEY = /^request\.headers\[(.+)\]$/;

function conditionChecks(c: AuthzCondition, deny: boolean): Check[] {
  const header = HEADER_KEY.exec(c.key);
  if (header) {
    const name = header[1].toLowerCase();
    return field(c.values, c.notValues, (r) => r.headers?.[name], { denyRule: deny, httpOnly: true });
  }
  switch (c.key) {
    case 'source.ip':
    case 'remote.ip':
      return field(c.values, c.notValues, (r) => r.sourceIp, { denyRule: deny, matcher: ipMatcher });
    case 'source.namespace':
      return field(c.values, c.notValues, sourceNamespace, { denyRule: deny });
    case 'source.principal':
      return field(c.values, c.notValues, principal, { denyRule: deny });
    case 'destination.port':
      return field(c.values, c.notValues, (r) => String(r.port), { denyRule: deny });
    case 'request.host':
      return field(c.values, c.notValues, (r) => (r.protocol === 'http' ? hostOnly(r) : undefined), {
        denyRule: deny,
        httpOnly: true,
      });
    default:
      // Keys the runtime cannot evaluate (JWT claims, SNI...): validation reports them; here
      // they fail closed: a DENY rule matches, any other rule does not.
      return [() => deny];
  }
}

/** True when every check of one of the groups holds (OR of ANDs), without per-request closures. */
function anyGroup(groups: readonly Check[][], req: AuthzRequest): boolean {
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    let ok = true;
    for (let i = 0; i < group.length && ok; i++) ok = group[i](req);
    if (ok) return true;
  }
  return false;
}

function compileChecks(
  rule: NonNullable<AuthorizationPolicy['spec']['rules']>[number],
  deny: boolean,
): Check[] {
  const checks: Check[] = [];
  const froms = (rule.from ?? []).map((f) => sourceChecks(f.source ?? {}, deny));
  if (froms.length > 0) checks.push((req) => anyGroup(froms, req));
  const tos = (rule.to ?? []).map((t) => operationChecks(t.operation ?? {}, deny));
  if (tos.length > 0) checks.push((req) => anyGroup(tos, req));
  for (const w of rule.when ?? []) checks.push(...conditionChecks(w, deny));
  return checks;
}
