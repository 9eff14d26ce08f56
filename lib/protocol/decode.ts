/**
 * Checks untrusted frames against the message shapes. Each function returns the typed message or
 * throws a ProtocolError naming the message type, the field and what was expected.
 */
import type {
  AckMessage,
  ControlPlaneMessage,
  CsrMessage,
  HelloMessage,
  NackMessage,
  PingMessage,
  ProxyMessage,
  ProxyMode,
  RegisterMessage,
  RegisterPort,
} from './messages.js';
import { PROXY_MODES } from './messages.js';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

type Rec = Record<string, unknown>;

function fail(type: string, field: string, expected: string, value: unknown): never {
  const shown = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80);
  throw new ProtocolError(`${type}.${field}: expected ${expected}, got ${shown}`);
}

function str(m: Rec, type: string, field: string, optional = false, max = 65536): string | undefined {
  const v = m[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length > max) fail(type, field, `a string of at most ${max} characters`, v);
  return v;
}

function int(m: Rec, type: string, field: string, optional = false): number | undefined {
  const v = m[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    fail(type, field, 'a non-negative integer', v);
  return v;
}

function labels(m: Rec, type: string, field: string): Record<string, string> {
  const v = m[field];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(type, field, 'an object of strings', v);
  for (const [k, val] of Object.entries(v as Rec)) {
    if (typeof val !== 'string') fail(type, `${field}.${k}`, 'a string', val);
  }
  return { ...(v as Record<string, string>) };
}

function ports(m: Rec, type: string): RegisterPort[] {
  const v = m.ports;
  if (!Array.isArray(v) || v.length > 1024) fail(type, 'ports', 'an array of at most 1024 ports', v);
  return v.map((p, i) => {
    if (p === null || typeof p !== 'object') fail(type, `ports[${i}]`, 'an object', p);
    const port = (p as Rec).containerPort;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      fail(type, `ports[${i}].containerPort`, 'an integer 1..65535', port);
    }
    const out: RegisterPort = { containerPort: port };
    const rec = p as Rec;
    if (rec.name !== undefined) {
      if (typeof rec.name !== 'string' || rec.name.length > 253)
        fail(type, `ports[${i}].name`, 'a string', rec.name);
      out.name = rec.name;
    }
    if (rec.protocol !== undefined) {
      if (typeof rec.protocol !== 'string') fail(type, `ports[${i}].protocol`, 'a string', rec.protocol);
      out.protocol = rec.protocol;
    }
    return out;
  });
}

function asRecord(value: unknown): Rec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError(`frame: expected a JSON object, got ${JSON.stringify(value)?.slice(0, 80)}`);
  }
  return value as Rec;
}

/** Decodes a frame a proxy sent. `protocolVersion` is the negotiated version (hash only in v2). */
export function decodeProxyMessage(value: unknown, protocolVersion: number): ProxyMessage {
  const m = asRecord(value);
  const type = m.type;
  switch (type) {
    case 'hello': {
      const msg: HelloMessage = {
        type,
        protocolVersion: int(m, type, 'protocolVersion')!,
        tsmeshVersion: str(m, type, 'tsmeshVersion', false, 64)!,
      };
      if (m.resume !== undefined) {
        const r = asRecord(m.resume);
        msg.resume = { version: int(r, 'hello.resume', 'version')! };
        const hash = str(r, 'hello.resume', 'hash', true, 128);
        if (hash !== undefined) msg.resume.hash = hash;
      }
      return msg;
    }
    case 'csr': {
      const msg: CsrMessage = {
        type,
        requestId: str(m, type, 'requestId', false, 128)!,
        csrPem: str(m, type, 'csrPem', false, 16384)!,
      };
      const token = str(m, type, 'token', true, 16384);
      if (token !== undefined) msg.token = token;
      return msg;
    }
    case 'register': {
      const msg: RegisterMessage = {
        type,
        namespace: str(m, type, 'namespace', false, 253)!,
        serviceAccount: str(m, type, 'serviceAccount', false, 253)!,
        workload: str(m, type, 'workload', false, 253)!,
        pod: str(m, type, 'pod', false, 253)!,
        labels: labels(m, type, 'labels'),
        address: str(m, type, 'address', false, 64)!,
        ports: ports(m, type),
      };
      if (m.mode !== undefined) {
        if (!PROXY_MODES.includes(m.mode as ProxyMode))
          fail(type, 'mode', `one of ${PROXY_MODES.join(', ')}`, m.mode);
        msg.mode = m.mode as ProxyMode;
      }
      return msg;
    }
    case 'ack': {
      const msg: AckMessage = { type, version: int(m, type, 'version')! };
      if (protocolVersion >= 2) msg.hash = str(m, type, 'hash', false, 128);
      return msg;
    }
    case 'nack': {
      const msg: NackMessage = {
        type,
        version: int(m, type, 'version')!,
        error: str(m, type, 'error', false, 8192)!,
      };
      if (protocolVersion >= 3 && m.resync !== undefined) {
        if (typeof m.resync !== 'boolean') fail(type, 'resync', 'a boolean', m.resync);
        msg.resync = m.resync;
      }
      return msg;
    }
    case 'ping':
      return { type, at: int(m, type, 'at')! } satisfies PingMessage;
    default:
      throw new ProtocolError(
        `frame: unknown message type ${JSON.stringify(type)}; expected hello, csr, register, ack, nack or ping`,
      );
  }
}

/** Decodes a frame the control plane sent (the proxy's side). */
export function decodeControlPlaneMessage(value: unknown): ControlPlaneMessage {
  const m = asRecord(value);
  const type = m.type;
  switch (type) {
    case 'welcome':
      int(m, type, 'protocolVersion');
      str(m, type, 'tsmeshVersion');
      return m as unknown as ControlPlaneMessage;
    case 'certificate':
      str(m, type, 'requestId');
      str(m, type, 'certPem');
      str(m, type, 'chainPem');
      if (!Array.isArray(m.trustBundle) || !m.trustBundle.every((p) => typeof p === 'string')) {
        fail(type, 'trustBundle', 'an array of PEM strings', m.trustBundle);
      }
      return m as unknown as ControlPlaneMessage;
    case 'registered':
      str(m, type, 'identity');
      return m as unknown as ControlPlaneMessage;
    case 'snapshot':
      int(m, type, 'version');
      str(m, type, 'hash', true);
      if (m.body === null || typeof m.body !== 'object') fail(type, 'body', 'an object', m.body);
      return m as unknown as ControlPlaneMessage;
    case 'delta': {
      int(m, type, 'version');
      str(m, type, 'hash');
      str(m, type, 'schema');
      str(m, type, 'createdAt');
      const base = m.base as Rec | undefined;
      if (base === null || typeof base !== 'object') fail(type, 'base', 'an object', base);
      int(base, 'delta.base', 'version');
      str(base, 'delta.base', 'hash');
      if (
        m.proxy !== undefined &&
        (m.proxy === null || typeof m.proxy !== 'object' || Array.isArray(m.proxy))
      )
        fail(type, 'proxy', 'an object', m.proxy);
      for (const field of ['objects', 'workloads'] as const) {
        const list = m[field];
        if (list === undefined) continue;
        if (!Array.isArray(list)) fail(type, field, 'an array of objects', list);
        list.forEach((item, i) => {
          if (item === null || typeof item !== 'object' || Array.isArray(item))
            fail(type, `${field}[${i}]`, 'an object', item);
        });
      }
      for (const field of ['removedObjects', 'removedWorkloads'] as const) {
        const list = m[field];
        if (list !== undefined && (!Array.isArray(list) || !list.every((k) => typeof k === 'string')))
          fail(type, field, 'an array of keys', list);
      }
      return m as unknown as ControlPlaneMessage;
    }
    case 'error':
      str(m, type, 'code');
      str(m, type, 'message');
      return m as unknown as ControlPlaneMessage;
    case 'ping':
    case 'pong':
      int(m, type, 'at');
      return m as unknown as ControlPlaneMessage;
    default:
      throw new ProtocolError(`frame: unknown message type ${JSON.stringify(type)}`);
  }
}
