/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP) for egress tests: answers A queries for the
 * names it is given with a fixed TTL, an empty NOERROR for other types of a known name, and
 * NXDOMAIN for anything else. Counts the queries per name.
 */
import { createSocket } from 'node:dgram';

export interface TestDnsServer {
  port: number;
  /** `127.0.0.1:<port>`, for `Resolver#setServers`. */
  address: string;
  /** A queries received, by name. */
  queries: Map<string, number>;
  close(): Promise<void>;
}

export async function startDnsServer(
  records: Record<string, string[]>,
  ttlSeconds = 60,
): Promise<TestDnsServer> {
  const queries = new Map<string, number>();
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 17) return;
    let offset = 12;
    const labels: string[] = [];
    while (offset < msg.length && msg[offset] !== 0) {
      const len = msg[offset];
      labels.push(msg.subarray(offset + 1, offset + 1 + len).toString('latin1'));
      offset += len + 1;
    }
    offset++;
    const qtype = msg.readUInt16BE(offset);
    const question = msg.subarray(12, offset + 4);
    const name = labels.join('.').toLowerCase();
    const addresses = records[name];
    if (qtype === 1) queries.set(name, (queries.get(name) ?? 0) + 1);
    const answers = addresses && qtype === 1 ? addresses : [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(addresses ? 0x8580 : 0x8583, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const parts = [header, question];
    for (const a of answers) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(ttlSeconds, 6);
      rr.writeUInt16BE(4, 10);
      a.split('.').forEach((octet, i) => {
        rr[12 + i] = Number(octet);
      });
      parts.push(rr);
    }
    socket.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
