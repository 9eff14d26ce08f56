/**
 * The admin API as an HTTP request handler: JSON in, JSON out. The same handler serves the
 * Unix socket (local users) and port 15012 (callers with an admin identity).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { diagnostic } from '../../lib/api/diagnostics.js';
import { API_VERSIONS, type MeshObject } from '../../lib/api/types.js';
import type { WorkloadInstance } from '../../lib/model.js';
import type {
  ApplyResponse,
  CertificateStatus,
  Diagnostic,
  ErrorResponse,
  ProxyStatus,
  StatusResponse,
  TokenResponse,
} from '../../lib/protocol/admin.js';
import { parseAdminObjects } from './config-files.js';

export const MAX_ADMIN_BODY_BYTES = 8 * 1024 * 1024;

export type ApplyOutcome =
  | { status: 200; body: ApplyResponse }
  | { status: 400 | 403 | 409 | 504; body: ErrorResponse };

export interface AdminBackend {
  mintToken(namespace: string, serviceAccount: string, ttlSeconds?: number): TokenResponse;
  registerWorkload(instance: WorkloadInstance): void;
  deleteWorkload(namespace: string, name: string): boolean;
  apply(objects: MeshObject[], mode: 'apply' | 'delete', timeoutMs?: number): Promise<ApplyOutcome>;
  proxies(): ProxyStatus[];
  status(): StatusResponse;
  certificates(): CertificateStatus[];
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly diagnostics?: Diagnostic[],
  ) {
    super(message);
  }
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_ADMIN_BODY_BYTES)
      throw new HttpError(413, `request body over ${MAX_ADMIN_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = `${JSON.stringify(body, null, 1)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

function requireName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new HttpError(
      400,
      `${field}: expected a DNS-style name (lower-case letters, digits, '-', '.'), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The objects of an apply/delete body: `objects` (array) or `yaml` (text), never both. */
export function objectsOfBody(body: Record<string, unknown>): MeshObject[] {
  if (body.objects !== undefined && body.yaml !== undefined) {
    throw new HttpError(400, 'give either objects or yaml, not both');
  }
  let parsed: ReturnType<typeof parseAdminObjects>;
  if (typeof body.yaml === 'string') parsed = parseAdminObjects({ yaml: body.yaml });
  else if (Array.isArray(body.objects)) parsed = parseAdminObjects({ objects: body.objects });
  else throw new HttpError(400, 'body needs objects (an array of mesh objects) or yaml (a string)');
  const diagnostics = [...parsed.diagnostics];
  for (const [kind, n] of Object.entries(parsed.skipped)) {
    diagnostics.push(
      diagnostic('schemaValidationError', {
        message: `${n} object(s) of kind ${kind} are not mesh configuration; allowed kinds: ${Object.keys(API_VERSIONS).join(', ')}`,
      }),
    );
  }
  if (diagnostics.some((d) => d.severity === 'error')) {
    throw new HttpError(400, 'invalid input; nothing was changed', diagnostics);
  }
  if (parsed.objects.length === 0) throw new HttpError(400, 'no objects given');
  return parsed.objects;
}

function workloadOfBody(body: Record<string, any>): WorkloadInstance {
  if (body.meshed !== false)
    throw new HttpError(400, 'meshed: trusted registration is for unmeshed pods; set meshed: false');
  const labels = body.labels ?? {};
  if (
    typeof labels !== 'object' ||
    Array.isArray(labels) ||
    Object.values(labels).some((v) => typeof v !== 'string')
  ) {
    throw new HttpError(400, 'labels: expected an object of strings');
  }
  if (typeof body.address !== 'string' || body.address === '')
    throw new HttpError(400, 'address: expected an IP address');
  const ports = body.ports ?? [];
  if (!Array.isArray(ports)) throw new HttpError(400, 'ports: expected an array');
  ports.forEach((p: any, i: number) => {
    if (!Number.isInteger(p?.containerPort) || p.containerPort < 1 || p.containerPort > 65535) {
      throw new HttpError(
        400,
        `ports[${i}].containerPort: expected an integer 1..65535, got ${JSON.stringify(p?.containerPort)}`,
      );
    }
  });
  return {
    name: requireName(body.name, 'name'),
    namespace: requireName(body.namespace, 'namespace'),
    workload: requireName(body.workload ?? body.name, 'workload'),
    serviceAccount: requireName(body.serviceAccount ?? 'default', 'serviceAccount'),
    labels: { ...labels },
    address: body.address,
    ports: ports.map((p: any) => ({
      containerPort: p.containerPort,
      ...(typeof p.name === 'string' ? { name: p.name } : {}),
      ...(typeof p.protocol === 'string' ? { protocol: p.protocol } : {}),
    })),
    meshed: false,
  };
}

export function createAdminHandler(backend: AdminBackend) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'http://admin');
      const path = url.pathname.replace(/\/+$/, '');
      const method = req.method ?? 'GET';
      if (method === 'GET' && path === '/v1/status') return send(res, 200, backend.status());
      if (method === 'GET' && path === '/v1/proxies') return send(res, 200, backend.proxies());
      if (method === 'GET' && path === '/v1/certificates') return send(res, 200, backend.certificates());
      if (method === 'POST' && path === '/v1/tokens') {
        const body = (await readBody(req)) as Record<string, unknown>;
        const ns = requireName(body.namespace, 'namespace');
        const sa = requireName(body.serviceAccount, 'serviceAccount');
        const ttl = body.ttlSeconds;
        if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < 1)) {
          throw new HttpError(400, `ttlSeconds: expected a positive integer, got ${JSON.stringify(ttl)}`);
        }
        return send(res, 201, backend.mintToken(ns, sa, ttl as number | undefined));
      }
      if (method === 'POST' && path === '/v1/workloads') {
        const instance = workloadOfBody((await readBody(req)) as Record<string, any>);
        backend.registerWorkload(instance);
        return send(res, 201, { registered: `${instance.namespace}/${instance.name}` });
      }
      const wl = /^\/v1\/workloads\/([^/]+)\/([^/]+)$/.exec(path);
      if (method === 'DELETE' && wl) {
        const [ns, name] = [decodeURIComponent(wl[1]), decodeURIComponent(wl[2])];
        if (!backend.deleteWorkload(ns, name))
          throw new HttpError(404, `workload ${ns}/${name} is not registered`);
        return send(res, 200, { deleted: `${ns}/${name}` });
      }
      if (method === 'POST' && (path === '/v1/apply' || path === '/v1/delete')) {
        const body = (await readBody(req)) as Record<string, unknown>;
        const timeout = body.timeoutMs;
        if (timeout !== undefined && (!Number.isInteger(timeout) || (timeout as number) < 1)) {
          throw new HttpError(400, `timeoutMs: expected a positive integer, got ${JSON.stringify(timeout)}`);
        }
        const objects = objectsOfBody(body);
        const outcome = await backend.apply(
          objects,
          path === '/v1/apply' ? 'apply' : 'delete',
          timeout as number | undefined,
        );
        return send(res, outcome.status, outcome.body);
      }
      throw new HttpError(404, `no such admin call: ${method} ${path}`);
    } catch (err) {
      if (err instanceof HttpError) {
        const body: ErrorResponse = { error: err.message };
        if (err.diagnostics) body.diagnostics = err.diagnostics;
        return send(res, err.status, body);
      }
      return send(res, 500, { error: (err as Error).message });
    }
  };
}
