/** A proxy telemetry that also keeps a copy of every request record, for assertions. */
import type { AccessLogOptions } from '../../../runtime/proxy/telemetry/access-log.js';
import {
  createTelemetry,
  type HttpRequestRecord,
  type Telemetry,
} from '../../../runtime/proxy/telemetry/index.js';

/** `accessLog`: the access log's options (off unless given). */
export function capturingTelemetry(accessLog: Partial<AccessLogOptions> = { enabled: false }): {
  telemetry: Telemetry;
  records: HttpRequestRecord[];
} {
  const inner = createTelemetry({ accessLog });
  const records: HttpRequestRecord[] = [];
  const telemetry: Telemetry = {
    ...inner,
    recordHttp(rec, span) {
      records.push({ ...rec });
      inner.recordHttp(rec, span);
    },
  };
  return { telemetry, records };
}

/** A TCP port nothing listens on (bound, then closed). */
export async function refusedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
