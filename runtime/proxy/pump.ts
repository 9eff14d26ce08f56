/**
 * Copies an upstream response body to the downstream response with backpressure, and
 * propagates errors and aborts both ways: what `stream.pipeline` does for this one pair.
 * pipeline allocates an AbortController per call and aborts it at the end, which builds a
 * DOMException each time; in the sidecar pair's CPU profile that was about 7 % of all CPU, so the
 * hot path uses this instead (bench/out profiles via `node --cpu-prof`, see docs/proxy.md).
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

export function pump(
  src: Readable,
  dst: ServerResponse,
  onBytes: (n: number) => void,
  done: (err: Error | undefined) => void,
): void {
  let finished = false;
  const onData = (chunk: Buffer) => {
    onBytes(chunk.length);
    if (!dst.write(chunk)) src.pause();
  };
  const onDrain = () => src.resume();
  const onEnd = () => dst.end();
  const onFinish = () => finish(undefined);
  const onSrcError = (err: Error) => finish(err);
  const onSrcClose = () => {
    if (!src.readableEnded) finish(new Error('upstream closed before the end of the response'));
  };
  const onDstClose = () => {
    if (!dst.writableFinished) finish(new Error('downstream closed before the end of the response'));
  };
  const finish = (err: Error | undefined) => {
    if (finished) return;
    finished = true;
    src.off('data', onData);
    src.off('end', onEnd);
    src.off('error', onSrcError);
    src.off('close', onSrcClose);
    dst.off('drain', onDrain);
    dst.off('finish', onFinish);
    dst.off('close', onDstClose);
    if (err) {
      src.destroy();
      dst.destroy();
    }
    done(err);
  };
  src.on('data', onData);
  src.on('end', onEnd);
  src.on('error', onSrcError);
  src.on('close', onSrcClose);
  dst.on('drain', onDrain);
  dst.on('finish', onFinish);
  dst.on('close', onDstClose);
  // Errors after finish (a late socket reset) must not go unhandled.
  src.on('error', () => undefined);
}
