/**
 * Frames: a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. Frames larger
 * than the bound are refused before their bytes are buffered, so a peer cannot make the other
 * side hold unbounded memory.
 */
import { DEFAULT_MAX_FRAME_BYTES } from './messages.js';

export class FrameError extends Error {
  override name = 'FrameError';
}

/** Encodes one message as a frame. Throws when the frame would exceed `maxBytes`. */
export function encodeFrame(message: unknown, maxBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  return encodeJsonFrame(JSON.stringify(message), maxBytes);
}

/** Encodes already-serialized JSON as a frame (lets a sender reuse one serialization). */
export function encodeJsonFrame(json: string, maxBytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  const length = Buffer.byteLength(json);
  if (length > maxBytes)
    throw new FrameError(`frame of ${length} bytes exceeds the limit of ${maxBytes} bytes`);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

/**
 * Encodes a frame from JSON text in pieces (strings and already-encoded UTF-8 bytes, which are
 * not copied): the length header followed by the pieces as buffers.
 */
export function encodeFrameParts(
  parts: readonly (string | Buffer)[],
  maxBytes = DEFAULT_MAX_FRAME_BYTES,
): Buffer[] {
  const buffers = parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
  const length = buffers.reduce((n, b) => n + b.length, 0);
  if (length > maxBytes)
    throw new FrameError(`frame of ${length} bytes exceeds the limit of ${maxBytes} bytes`);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(length, 0);
  return [head, ...buffers];
}

/** Reassembles frames from a byte stream. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Feeds bytes; returns every complete message they finish. Throws FrameError on bad input. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.buffered < 4) return out;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxBytes) {
        throw new FrameError(`frame of ${length} bytes exceeds the limit of ${this.maxBytes} bytes`);
      }
      if (this.buffered < 4 + length) return out;
      const body = this.take(4 + length).subarray(4);
      try {
        out.push(JSON.parse(body.toString('utf8')));
      } catch (err) {
        throw new FrameError(`frame is not valid JSON: ${(err as Error).message}`);
      }
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }
}
