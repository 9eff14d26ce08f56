/**
 * Diagnostics: what validation and analysis say about the configuration, each naming the
 * object, the field path, the value and what is allowed. Codes reuse Istio's analyzer codes
 * (`IST....`) where Istio has the same message, and `TSM....` codes for tsmesh's own.
 */

export type Severity = 'error' | 'warning' | 'info';

/** Where an object came from: a file, its document index in that file, and the line it starts on. */
export interface SourceRef {
  file?: string;
  /** Zero-based index of the YAML document (or array element) in the file. */
  index?: number;
  /** One-based line of the document's first line, or of the problem when known. */
  line?: number;
}

export interface Diagnostic {
  severity: Severity;
  code: string;
  /** The object, as `objectRef` names it: `VirtualService default/reviews`. */
  object?: string;
  /** The field path inside the object: `spec.http[1].route[0].weight`. */
  path?: string;
  /** What is wrong: the bad value and what is allowed. */
  message: string;
  source?: SourceRef;
}

export interface DiagnosticCode {
  code: string;
  name: string;
  severity: Severity;
  description: string;
}

/** Every code tsmesh emits (docs/config.md lists the same table). */
export const DIAGNOSTIC_CODES = {
  referencedResourceNotFound: {
    code: 'IST0101',
    name: 'ReferencedResourceNotFound',
    severity: 'error',
    description: 'a host, subset or gateway an object refers to does not exist in the input',
  },
  schemaValidationError: {
    code: 'IST0106',
    name: 'SchemaValidationError',
    severity: 'error',
    description:
      'the object is not valid: wrong type, bad value, unknown or missing field, unknown apiVersion',
  },
  conflictingMeshGatewayVirtualServiceHosts: {
    code: 'IST0109',
    name: 'ConflictingMeshGatewayVirtualServiceHosts',
    severity: 'error',
    description: 'two VirtualServices for the mesh define the same host; only one of them is used',
  },
  multipleSidecarsWithoutWorkloadSelectors: {
    code: 'IST0111',
    name: 'MultipleSidecarsWithoutWorkloadSelectors',
    severity: 'error',
    description: 'more than one Sidecar in a namespace has no workloadSelector',
  },
  virtualServiceDestinationPortSelectorRequired: {
    code: 'IST0112',
    name: 'VirtualServiceDestinationPortSelectorRequired',
    severity: 'error',
    description: 'a route goes to a service with more than one port and does not say which port',
  },
  portNameIsNotUnderNamingConvention: {
    code: 'IST0118',
    name: 'PortNameIsNotUnderNamingConvention',
    severity: 'info',
    description: 'a Service port names no protocol (`<protocol>[-<suffix>]` or appProtocol)',
  },
  virtualServiceUnreachableRule: {
    code: 'IST0130',
    name: 'VirtualServiceUnreachableRule',
    severity: 'warning',
    description: 'a route can never match because an earlier route matches every request',
  },
  virtualServiceIneffectiveMatch: {
    code: 'IST0131',
    name: 'VirtualServiceIneffectiveMatch',
    severity: 'info',
    description: 'a match repeats a match of an earlier route, so it is never used',
  },
  destinationRuleSubsetNotSelectPods: {
    code: 'IST0173',
    name: 'DestinationRuleSubsetNotSelectPods',
    severity: 'warning',
    description: 'a subset selects none of the declared workloads of its host; requests to it get 503 UH',
  },
  notSupported: {
    code: 'TSM0001',
    name: 'NotSupportedByBundledRuntime',
    severity: 'error',
    description:
      'valid Istio configuration that the bundled runtime does not implement (fine with target istio)',
  },
  duplicateObject: {
    code: 'TSM0002',
    name: 'DuplicateObject',
    severity: 'error',
    description: 'two inputs define the same kind, namespace and name',
  },
  faultWithoutPercentage: {
    code: 'TSM0003',
    name: 'FaultWithoutPercentage',
    severity: 'warning',
    description: 'a fault has no percentage, so it affects no request',
  },
  yamlSyntaxError: {
    code: 'TSM0004',
    name: 'YamlSyntaxError',
    severity: 'error',
    description: 'a file is not valid YAML or JSON',
  },
  conflictingMeshWidePolicies: {
    code: 'TSM0005',
    name: 'ConflictingPeerAuthentications',
    severity: 'warning',
    description:
      'more than one mesh-wide (or namespace-wide) PeerAuthentication; the oldest wins, the others are ignored',
  },
  rootNamespaceShadowed: {
    code: 'TSM0006',
    name: 'RootNamespaceShadowed',
    severity: 'warning',
    description:
      "both the control plane's root namespace and istio-system hold a mesh-wide object of one kind; the root namespace wins",
  },
  ignoredObject: {
    code: 'TSM0007',
    name: 'IgnoredObject',
    severity: 'info',
    description:
      'an object that is accepted but has no effect (for example a PeerAuthentication in the root namespace with a selector)',
  },
  hostsNotChecked: {
    code: 'TSM0008',
    name: 'HostsNotChecked',
    severity: 'info',
    description: 'the input declares no Service or ServiceEntry, so destination hosts were not checked',
  },
  principalWithScheme: {
    code: 'TSM0009',
    name: 'PrincipalWithScheme',
    severity: 'warning',
    description: 'an AuthorizationPolicy principal starts with spiffe://, so it never matches',
  },
  multipleMeshConfigs: {
    code: 'TSM0010',
    name: 'MultipleMeshConfigs',
    severity: 'warning',
    description: 'more than one MeshConfig; the oldest is used and the others are ignored',
  },
} as const satisfies Record<string, DiagnosticCode>;

export type DiagnosticCodeKey = keyof typeof DIAGNOSTIC_CODES;

const SEVERITY_LABEL: Record<Severity, string> = { error: 'Error', warning: 'Warning', info: 'Info' };
const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Builds a diagnostic with the code's default severity. */
export function diagnostic(
  key: DiagnosticCodeKey,
  fields: Omit<Diagnostic, 'code' | 'severity'> & { severity?: Severity },
): Diagnostic {
  const c = DIAGNOSTIC_CODES[key];
  const d = { severity: fields.severity ?? c.severity, code: c.code } as Diagnostic;
  if (fields.object !== undefined) d.object = fields.object;
  if (fields.path !== undefined) d.path = fields.path;
  d.message = fields.message;
  if (fields.source !== undefined) d.source = fields.source;
  return d;
}

/** `file.yaml:3`, `file.yaml#2` (document index when the line is unknown), or undefined. */
export function formatSource(source: SourceRef | undefined): string | undefined {
  if (!source?.file) return undefined;
  if (source.line !== undefined) return `${source.file}:${source.line}`;
  if (source.index !== undefined) return `${source.file}#${source.index}`;
  return source.file;
}

/**
 * One line in istioctl-analyze style:
 * `Error [IST0106] (VirtualService default/reviews reviews.yaml:3) spec.http[0].route[0].weight: ...`.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = [d.object, formatSource(d.source)].filter((s) => s !== undefined).join(' ');
  const head = `${SEVERITY_LABEL[d.severity]} [${d.code}]`;
  const body = d.path ? `${d.path}: ${d.message}` : d.message;
  return where ? `${head} (${where}) ${body}` : `${head} ${body}`;
}

/** Errors first, then warnings, then info; within a level by file, line, object and path. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      compare(a.source?.file, b.source?.file) ||
      (a.source?.line ?? 0) - (b.source?.line ?? 0) ||
      compare(a.object, b.object) ||
      compare(a.path, b.path) ||
      compare(a.message, b.message),
  );
}

function compare(a: string | undefined, b: string | undefined): number {
  return (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0;
}

/** Counts per severity. */
export function countDiagnostics(diagnostics: readonly Diagnostic[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const d of diagnostics) counts[d.severity]++;
  return counts;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
