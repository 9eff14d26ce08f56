/**
 * The downstream request body, read so that it can be replayed by retries when it is small:
 * up to `limit` bytes are buffered; a larger body is streamed (once) and the request is then
 * not retried (SEMANTICS.md: a body already streamed and not buffered is never retried).
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export type RequestBody =
  | { kind: 'none' }
  | { kind: 'buffered'; data: Buffer }
  | { kind: 'stream'; stream: Readable; consumed: boolean };

/** The body of a request without one (shared: it carries no state). */
export const NO_BODY: RequestBody = Object.freeze({ kind: 'none' });

/** True when the request carries a body by its framing headers. */
export function hasBody(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/**
 * Reads up to `limit` bytes. `onBytes` counts every byte received from downstream. Rejects when
 * the downstream goes away before the body ended.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  onBytes: (n: number) => void,
): Promise<RequestBody> {
  if (limit === 0 || !hasBody(req)) return Promise.resolve(streamBody(req, onBytes));
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit)
    return Promise.resolve({ kind: 'stream', stream: counted(req, [], onBytes), consumed: false });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      onBytes(chunk.length);
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        resolve({ kind: 'stream', stream: counted(req, chunks, onBytes), consumed: false });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ kind: 'buffered', data: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (!req.complete) {
        cleanup();
        reject(new Error('downstream closed before the request body ended'));
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * The body when nothing will replay it (no retries, no mirror): none, or the request streamed
 * straight through. Synchronous, so a request without a body costs no Promise here.
 */
export function streamBody(req: IncomingMessage, onBytes: (n: number) => void): RequestBody {
  if (!hasBody(req)) return NO_BODY;
  return { kind: 'stream', stream: counted(req, [], onBytes), consumed: false };
}

/** The already-read chunks followed by the rest of the request, counting bytes as they pass. */
function counted(req: IncomingMessage, head: Buffer[], onBytes: (n: number) => void): Readable {
  async function* gen() {
    for (const c of head) yield c;
    for await (const c of req) {
      onBytes((c as Buffer).length);
      yield c as Buffer;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}
