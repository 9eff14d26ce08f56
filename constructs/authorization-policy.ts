import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import type { AuthorizationPolicySpec, AuthzRule } from '../lib/api/types.js';
import { LABELS } from '../lib/constants.js';
import { AuthorizationPolicy as L1AuthorizationPolicy } from './istio/authorization-policy.js';
import type { Mesh } from './mesh.js';
import { checkDnsLabel, compact } from './private/validate-input.js';
import type { IMeshService, IPrincipal } from './service-base.js';

/** What an AuthorizationPolicy does with the requests its rules match. */
export enum AuthorizationAction {
  ALLOW = 'ALLOW',
  DENY = 'DENY',
  AUDIT = 'AUDIT',
}

/** Who sends the request; fields AND, values of one field OR. */
export interface AuthorizationSource {
  /**
   * Services or gateways (their identities).
   * @default - any
   */
  readonly principals?: IPrincipal[];
  /**
   * Principals written out (`cluster.local/ns/default/sa/sleep`, `*` patterns allowed).
   * @default - any
   */
  readonly principalNames?: string[];
  /**
   * Principals that must not match.
   * @default - none
   */
  readonly notPrincipalNames?: string[];
  /**
   * Source namespaces (mTLS only).
   * @default - any
   */
  readonly namespaces?: string[];
  /**
   * Namespaces that must not match.
   * @default - none
   */
  readonly notNamespaces?: string[];
  /**
   * Source IP blocks (CIDR).
   * @default - any
   */
  readonly ipBlocks?: string[];
  /**
   * IP blocks that must not match.
   * @default - none
   */
  readonly notIpBlocks?: string[];
}

/** What the request does; fields AND, values of one field OR. */
export interface AuthorizationOperation {
  /** @default - any */
  readonly methods?: string[];
  /** @default - none */
  readonly notMethods?: string[];
  /** @default - any */
  readonly paths?: string[];
  /** @default - none */
  readonly notPaths?: string[];
  /** @default - any */
  readonly ports?: number[];
  /** @default - none */
  readonly notPorts?: number[];
  /** @default - any */
  readonly hosts?: string[];
  /** @default - none */
  readonly notHosts?: string[];
}

/** An extra condition (`request.headers[x-token]`, `source.ip`, ...). */
export interface AuthorizationCondition {
  readonly key: string;
  /** @default - any */
  readonly values?: string[];
  /** @default - none */
  readonly notValues?: string[];
}

/** A rule: one of `from`, one of `to` and every `when` must match. */
export interface AuthorizationRule {
  /** @default - any source */
  readonly from?: AuthorizationSource[];
  /** @default - any operation */
  readonly to?: AuthorizationOperation[];
  /** @default - no condition */
  readonly when?: AuthorizationCondition[];
}

/** Props of {@link AuthorizationPolicy}. */
export interface AuthorizationPolicyProps {
  /** The mesh. */
  readonly mesh: Mesh;
  /**
   * The workloads protected.
   * @default - every workload of `namespace`
   */
  readonly service?: IMeshService;
  /**
   * The namespace (the root namespace makes the policy mesh-wide).
   * @default - the service's namespace, else the chart's, else 'default'
   */
  readonly namespace?: string;
  /**
   * The action.
   * @default AuthorizationAction.ALLOW
   */
  readonly action?: AuthorizationAction;
  /**
   * Rules; an ALLOW policy with no rules allows nothing (deny by default).
   * @default - no rules
   */
  readonly rules?: AuthorizationRule[];
  /**
   * The object name.
   * @default - the construct id
   */
  readonly name?: string;
}

/**
 * An AuthorizationPolicy: ALLOW, DENY or AUDIT rules on who may call a workload and how. DENY is
 * checked first; once any ALLOW policy selects a workload, requests no ALLOW rule matches are
 * denied (403 `RBAC: access denied`). For simple grants use `service.allowFrom(...)`.
 *
 * @example
 * new AuthorizationPolicy(chart, 'deny-delete', {
 *   mesh, service: ratings, action: AuthorizationAction.DENY,
 *   rules: [{ to: [{ methods: ['DELETE'] }] }],
 * });
 * AuthorizationPolicy.allowNothing(chart, 'lockdown', { mesh, namespace: 'default' });
 */
export class AuthorizationPolicy extends Construct {
  /** An ALLOW policy without rules: the selected workloads deny everything not allowed elsewhere. */
  public static allowNothing(
    scope: Construct,
    id: string,
    props: Omit<AuthorizationPolicyProps, 'rules' | 'action'>,
  ): AuthorizationPolicy {
    return new AuthorizationPolicy(scope, id, { ...props, action: AuthorizationAction.ALLOW, rules: [] });
  }

  public readonly policy: L1AuthorizationPolicy;

  public constructor(scope: Construct, id: string, props: AuthorizationPolicyProps) {
    super(scope, id);
    const what = `authorization policy '${props.name ?? id}'`;
    const action = props.action ?? AuthorizationAction.ALLOW;
    if (!Object.values(AuthorizationAction).includes(action)) {
      throw new Error(
        `${what}: action must be one of ${Object.values(AuthorizationAction).join(', ')} (CUSTOM is not supported), got ${JSON.stringify(action)}`,
      );
    }
    const namespace = checkDnsLabel(
      `${what}: namespace`,
      props.namespace ?? props.service?.namespace ?? Chart.of(this).namespace ?? 'default',
    );
    if (props.service && props.service.namespace !== namespace) {
      throw new Error(
        `${what}: namespace '${namespace}' differs from the service's namespace '${props.service.namespace}'`,
      );
    }
    const spec: AuthorizationPolicySpec = {
      action,
      rules: (props.rules ?? []).map((r, i) => renderRule(`${what}: rules[${i}]`, r)),
    };
    if (props.service) spec.selector = { matchLabels: { [LABELS.app]: props.service.serviceName } };
    props.mesh.addChart(Chart.of(this));
    this.policy = new L1AuthorizationPolicy(this, 'Resource', {
      metadata: { name: checkDnsLabel(`${what}: name`, props.name ?? id), namespace },
      spec,
    });
  }
}

function renderRule(what: string, rule: AuthorizationRule): AuthzRule {
  const strings = (field: string, v: string[] | undefined) => {
    for (const s of v ?? []) {
      if (typeof s !== 'string' || s.length === 0)
        throw new Error(`${what}: ${field} values must be non-empty strings`);
    }
    return v?.length ? [...v] : undefined;
  };
  const ports = (field: string, v: number[] | undefined) => {
    for (const p of v ?? []) {
      if (!Number.isInteger(p) || p < 1 || p > 65535)
        throw new Error(`${what}: ${field} must be ports 1..65535, got ${p}`);
    }
    return v?.length ? v.map(String) : undefined;
  };
  for (const op of rule.to ?? []) {
    for (const m of [...(op.methods ?? []), ...(op.notMethods ?? [])]) {
      if (m !== m.toUpperCase()) throw new Error(`${what}: methods are upper case, got ${JSON.stringify(m)}`);
    }
  }
  const rendered = compact({
    from: rule.from?.map((s) => ({
      source: {
        principals: strings('principals', [
          ...(s.principals ?? []).flatMap((p) => p.principals),
          ...(s.principalNames ?? []),
        ]),
        notPrincipals: strings('notPrincipalNames', s.notPrincipalNames),
        namespaces: strings('namespaces', s.namespaces),
        notNamespaces: strings('notNamespaces', s.notNamespaces),
        ipBlocks: strings('ipBlocks', s.ipBlocks),
        notIpBlocks: strings('notIpBlocks', s.notIpBlocks),
      },
    })),
    to: rule.to?.map((o) => ({
      operation: {
        methods: strings('methods', o.methods),
        notMethods: strings('notMethods', o.notMethods),
        paths: strings('paths', o.paths),
        notPaths: strings('notPaths', o.notPaths),
        ports: ports('ports', o.ports),
        notPorts: ports('notPorts', o.notPorts),
        hosts: strings('hosts', o.hosts),
        notHosts: strings('notHosts', o.notHosts),
      },
    })),
    when: rule.when?.map((c) => {
      if (typeof c.key !== 'string' || c.key.length === 0)
        throw new Error(`${what}: when key must be non-empty`);
      return {
        key: c.key,
        values: strings('values', c.values),
        notValues: strings('notValues', c.notValues),
      };
    }),
  });
  // An empty source or operation would match everything: refuse it rather than widen access.
  for (const [field, list] of [
    ['from', rendered.from],
    ['to', rendered.to],
  ] as const) {
    (list as Record<string, unknown>[] | undefined)?.forEach((entry, i) => {
      if (Object.keys(entry).length === 0) {
        throw new Error(
          `${what}: ${field}[${i}] sets no condition, so it would match every request; omit ${field} to mean any, or give it a value`,
        );
      }
    });
  }
  return rendered;
}
