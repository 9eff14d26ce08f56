/**
 * Name rules: Kubernetes object names and labels, Istio host names, IP addresses and CIDRs.
 * Each check returns why a value is invalid, or undefined.
 */
import { isIP } from 'node:net';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label: namespaces, port names, subset names. */
export function dnsLabelError(name: string): string | undefined {
  if (name.length > 63) return `${JSON.stringify(name)} is longer than 63 characters`;
  if (!DNS1123_LABEL.test(name)) {
    return `${JSON.stringify(name)} is not a valid DNS label; expected lower-case letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** A DNS-1035 label: Service names (must start with a letter). */
export function serviceNameError(name: string): string | undefined {
  if (name.length > 63) return `${JSON.stringify(name)} is longer than 63 characters`;
  if (!DNS1035_LABEL.test(name)) {
    return `${JSON.stringify(name)} is not a valid Service name; expected lower-case letters, digits and '-', starting with a letter and ending with a letter or digit`;
  }
  return undefined;
}

/** A DNS-1123 subdomain: most object names. */
export function dnsSubdomainError(name: string): string | undefined {
  if (name.length > 253) return `${JSON.stringify(name)} is longer than 253 characters`;
  if (!name.split('.').every((l) => DNS1123_LABEL.test(l))) {
    return `${JSON.stringify(name)} is not a valid DNS subdomain; expected dot-separated lower-case labels of letters, digits and '-'`;
  }
  return undefined;
}

/** A label key: optional DNS-subdomain prefix and '/', then a name of up to 63 characters. */
export function labelKeyError(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && dnsSubdomainError(prefix)) {
    return `label key ${JSON.stringify(key)} has an invalid prefix; expected a DNS subdomain before '/'`;
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `label key ${JSON.stringify(key)} is invalid; expected up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function labelValueError(value: unknown): string | undefined {
  if (typeof value !== 'string') return `label values must be strings, got ${JSON.stringify(value)}`;
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `label value ${JSON.stringify(value)} is invalid; expected up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** A named target port (IANA service name): up to 15 characters with at least one letter. */
export function portNameError(name: string): string | undefined {
  if (name.length > 15 || !IANA_SVC_NAME.test(name) || !/[a-z]/.test(name) || name.includes('--')) {
    return `${JSON.stringify(name)} is not a valid port name; expected up to 15 lower-case letters, digits and '-', with at least one letter`;
  }
  return undefined;
}

/**
 * An Istio host: a DNS name, optionally with a leading `*` wildcard label (`*.example.com`,
 * or `*` alone when `allowStar`). Short names (`reviews`) are valid; they resolve in the
 * object's namespace.
 */
export function hostError(host: string, opts: { allowStar?: boolean } = {}): string | undefined {
  if (host === '*') return opts.allowStar === false ? '"*" is not allowed here' : undefined;
  const rest = host.startsWith('*.') ? host.slice(2) : host;
  if (rest.length === 0 || rest.length > 255) return `${JSON.stringify(host)} is not a valid host name`;
  const labels = rest.endsWith('.') ? rest.slice(0, -1).split('.') : rest.split('.');
  for (const label of labels) {
    if (!/^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$/.test(label)) {
      return `${JSON.stringify(host)} is not a valid host name; expected a DNS name, optionally starting with "*."`;
    }
  }
  return undefined;
}

export function ipError(text: string): string | undefined {
  return isIP(text) ? undefined : `${JSON.stringify(text)} is not an IP address`;
}

/** An IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). */
export function cidrError(text: string): string | undefined {
  const slash = text.indexOf('/');
  const ip = slash >= 0 ? text.slice(0, slash) : text;
  const version = isIP(ip);
  if (version === 0) return `${JSON.stringify(text)} is not an IP address or CIDR block`;
  if (slash >= 0) {
    const bits = text.slice(slash + 1);
    const max = version === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      return `${JSON.stringify(text)} has an invalid prefix length; expected 0 to ${max}`;
    }
  }
  return undefined;
}
