/**
 * Reads the ALPN list and SNI out of a TLS ClientHello without consuming it, so the inbound
 * listener can tell mesh mTLS from an app's own TLS before deciding who terminates it.
 */

export type ClientHelloPeek =
  | { state: 'incomplete' }
  | { state: 'invalid' }
  | { state: 'ok'; alpn: string[]; sni?: string };

/** Largest ClientHello record we wait for before giving up (a TLS record is at most 16 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 16_384 + 5;

/** True when the first byte marks a TLS handshake record. */
export function looksLikeTls(first: Buffer): boolean {
  return first.length > 0 && first[0] === 0x16;
}

export function peekClientHello(buf: Buffer): ClientHelloPeek {
  if (buf.length < 5) return { state: 'incomplete' };
  if (buf[0] !== 0x16 || buf[1] !== 0x03) return { state: 'invalid' };
  const recordLength = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLength) return { state: 'incomplete' };
  const hello = buf.subarray(5, 5 + recordLength);
  try {
    return parseHello(hello);
  } catch {
    return { state: 'invalid' };
  }
}

function parseHello(h: Buffer): ClientHelloPeek {
  if (h[0] !== 0x01) return { state: 'invalid' };
  let p = 4; // handshake type + 3-byte length
  p += 2 + 32; // client_version + random
  p += 1 + h[p]; // session id
  p += 2 + h.readUInt16BE(p); // cipher suites
  p += 1 + h[p]; // compression methods
  const out: { state: 'ok'; alpn: string[]; sni?: string } = { state: 'ok', alpn: [] };
  if (p + 2 > h.length) return out;
  const end = Math.min(h.length, p + 2 + h.readUInt16BE(p));
  p += 2;
  while (p + 4 <= end) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    const data = h.subarray(p + 4, p + 4 + len);
    p += 4 + len;
    if (type === 16 && data.length >= 2) {
      let q = 2;
      while (q < data.length) {
        const n = data[q];
        out.alpn.push(data.subarray(q + 1, q + 1 + n).toString('latin1'));
        q += 1 + n;
      }
    } else if (type === 0 && data.length >= 5 && data[2] === 0) {
      const n = data.readUInt16BE(3);
      out.sni = data.subarray(5, 5 + n).toString('latin1');
    }
  }
  return out;
}
