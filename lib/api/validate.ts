/**
 * Validation of each object on its own: the shape of every field (errors, IST0106) and the
 * fields the bundled runtime does not implement (TSM0001, only for target `bundled`). Every
 * problem is reported, not only the first. Cross-object checks live in lib/analyze.ts.
 */

import { describe } from './describe.js';
import { type Diagnostic, type DiagnosticCodeKey, diagnostic } from './diagnostics.js';
import { dnsLabelError, dnsSubdomainError, serviceNameError } from './names.js';
import { type LoadedObject, withLine } from './parse.js';
import { type Check, type CheckContext, isRecord } from './schema.js';
import { labels } from './schemas/common.js';
import { deploymentSpec, serviceSpec } from './schemas/kubernetes.js';
import { meshConfigSpec } from './schemas/mesh-config.js';
import {
  destinationRuleSpec,
  gatewaySpec,
  serviceEntrySpec,
  sidecarSpec,
  virtualServiceSpec,
} from './schemas/networking.js';
import { authorizationPolicySpec, peerAuthenticationSpec } from './schemas/security.js';
import { API_VERSIONS, type MeshObject, type MeshObjectKind, objectRef } from './types.js';

export type Target = 'bundled' | 'istio';

export interface ValidateOptions {
  /** `bundled` (default) also reports what the bundled runtime does not implement. */
  target?: Target;
}

const SPEC: Partial<Record<MeshObjectKind, Check>> = {
  VirtualService: virtualServiceSpec,
  DestinationRule: destinationRuleSpec,
  Gateway: gatewaySpec,
  ServiceEntry: serviceEntrySpec,
  Sidecar: sidecarSpec,
  PeerAuthentication: peerAuthenticationSpec,
  AuthorizationPolicy: authorizationPolicySpec,
  MeshConfig: meshConfigSpec,
  Service: serviceSpec,
  Deployment: deploymentSpec,
};

/** Kinds whose spec may be absent (Istio treats a missing spec as empty where that is valid). */
const SPEC_OPTIONAL = new Set<string>([
  'PeerAuthentication',
  'AuthorizationPolicy',
  'MeshConfig',
  'Sidecar',
  'Service',
]);

/** Validates every object; returns all problems found, in input order. */
export function validateObjects(
  objects: readonly (LoadedObject | MeshObject)[],
  options: ValidateOptions = {},
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const item of objects) out.push(...validateObject(item, options));
  return out;
}

function isLoaded(item: LoadedObject | MeshObject): item is LoadedObject {
  return 'object' in item && isRecord((item as LoadedObject).object) && !('kind' in item);
}

/** Validates one object. */
export function validateObject(item: LoadedObject | MeshObject, options: ValidateOptions = {}): Diagnostic[] {
  const loaded: LoadedObject = isLoaded(item) ? item : { object: item as MeshObject };
  const obj = loaded.object as unknown as Record<string, unknown>;
  const out: Diagnostic[] = [];
  const ref = objectRef(loaded.object);
  const ctx: CheckContext = {
    target: options.target ?? 'bundled',
    report(key: DiagnosticCodeKey, path: string, message: string) {
      const d = diagnostic(key, { object: ref, path, message });
      if (loaded.source) d.source = withLine(loaded.source, loaded.lines, path);
      out.push(d);
    },
  };
  const kind = loaded.object.kind as MeshObjectKind;
  const versions = API_VERSIONS[kind];
  if (!versions) {
    ctx.report(
      'schemaValidationError',
      'kind',
      `unknown kind ${describe(kind)}; expected one of ${Object.keys(API_VERSIONS).join(', ')}`,
    );
    return out;
  }
  if (!versions.includes(obj.apiVersion as string)) {
    ctx.report(
      'schemaValidationError',
      'apiVersion',
      `${describe(obj.apiVersion)} is not an API version of ${kind}; expected ${versions.join(', ')}`,
    );
  }
  if (kind in SPEC || kind === 'ServiceAccount' || kind === 'Namespace') checkTopLevel(kind, obj, ctx);
  checkMetadata(kind, obj.metadata, ctx);
  const spec = SPEC[kind];
  if (spec) {
    if (obj.spec === undefined || obj.spec === null) {
      if (!SPEC_OPTIONAL.has(kind)) ctx.report('schemaValidationError', 'spec', 'required field is missing');
    } else {
      spec(obj.spec, 'spec', ctx);
    }
  }
  return out;
}

/** Top-level fields: a typo such as `sepc` must not pass unnoticed on kinds whose spec is optional. */
const TOP_LEVEL: Record<string, readonly string[]> = {
  ServiceAccount: [
    'apiVersion',
    'kind',
    'metadata',
    'secrets',
    'imagePullSecrets',
    'automountServiceAccountToken',
  ],
  Namespace: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
};
const DEFAULT_TOP_LEVEL = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

function checkTopLevel(kind: string, obj: Record<string, unknown>, ctx: CheckContext): void {
  const allowed = TOP_LEVEL[kind] ?? DEFAULT_TOP_LEVEL;
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      ctx.report(
        'schemaValidationError',
        key,
        `unknown field ${JSON.stringify(key)}; allowed fields: ${allowed.join(', ')}`,
      );
    }
  }
}

function checkMetadata(kind: MeshObjectKind, metadata: unknown, ctx: CheckContext): void {
  if (!isRecord(metadata)) {
    ctx.report(
      'schemaValidationError',
      'metadata',
      `expected a mapping with a name, got ${describe(metadata)}`,
    );
    return;
  }
  const name = metadata.name;
  if (typeof name !== 'string' || name === '') {
    ctx.report(
      'schemaValidationError',
      'metadata.name',
      `expected a non-empty string, got ${describe(name)}`,
    );
  } else {
    const problem =
      kind === 'Service'
        ? serviceNameError(name)
        : kind === 'Namespace'
          ? dnsLabelError(name)
          : dnsSubdomainError(name);
    if (problem) ctx.report('schemaValidationError', 'metadata.name', problem);
  }
  const ns = metadata.namespace;
  if (ns !== undefined) {
    if (kind === 'Namespace') {
      ctx.report('schemaValidationError', 'metadata.namespace', 'a Namespace has no namespace');
    } else if (typeof ns !== 'string') {
      ctx.report('schemaValidationError', 'metadata.namespace', `expected a string, got ${describe(ns)}`);
    } else {
      const problem = dnsLabelError(ns);
      if (problem) ctx.report('schemaValidationError', 'metadata.namespace', problem);
    }
  }
  if (metadata.labels !== undefined) labels(metadata.labels, 'metadata.labels', ctx);
  if (metadata.annotations !== undefined && !isRecord(metadata.annotations)) {
    ctx.report(
      'schemaValidationError',
      'metadata.annotations',
      `expected a mapping, got ${describe(metadata.annotations)}`,
    );
  } else if (isRecord(metadata.annotations)) {
    for (const [k, v] of Object.entries(metadata.annotations)) {
      if (typeof v !== 'string') {
        ctx.report(
          'schemaValidationError',
          `metadata.annotations[${JSON.stringify(k)}]`,
          `annotation values must be strings, got ${describe(v)}`,
        );
      }
    }
  }
  if (metadata.creationTimestamp !== undefined) {
    const t = metadata.creationTimestamp;
    if (!(t instanceof Date) && (typeof t !== 'string' || Number.isNaN(Date.parse(t)))) {
      ctx.report(
        'schemaValidationError',
        'metadata.creationTimestamp',
        `${describe(t)} is not an RFC 3339 time`,
      );
    }
  }
}
