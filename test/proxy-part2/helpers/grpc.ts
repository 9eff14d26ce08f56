/** A gRPC echo app (real @grpc/grpc-js server) and a client for it, for the part-2 proxy tests. */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO = join(import.meta.dirname, '../fixtures/echo.proto');

export interface EchoRequest {
  message: string;
  count?: number;
  delayMs?: number;
  size?: number;
}

export interface EchoReply {
  message: string;
  index: number;
  payload: Buffer;
  authority: string;
  peerCert: string;
}

type ServiceCtor = any;

function loadEcho(): ServiceCtor {
  const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tsmesh: { test: { Echo: ServiceCtor } } };
  return pkg.tsmesh.test.Echo;
}

export interface GrpcApp {
  port: number;
  /** Calls whose client went away (deadline or cancel) before the answer. */
  cancelled: string[];
  close(): Promise<void>;
}

/**
 * Unary: answers `message` back with trailing metadata `x-trailer: unary-<message>`; the message
 * `not-found` fails with NOT_FOUND and trailing metadata. Stream: `count` replies of `size`
 * bytes each, then trailing metadata `x-trailer: stream-<count>`. `delayMs` delays the answer.
 */
export async function startGrpcEcho(): Promise<GrpcApp> {
  const Echo = loadEcho();
  const server = new grpc.Server();
  const cancelled: string[] = [];
  const trailer = (value: string) => {
    const m = new grpc.Metadata();
    m.set('x-trailer', value);
    return m;
  };
  server.addService(Echo.service, {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const req = call.request;
      const authority = call.getHost();
      const xfcc = String(call.metadata.get('x-forwarded-client-cert')[0] ?? '');
      call.on('cancelled', () => cancelled.push(req.message));
      const answer = () => {
        if (call.cancelled) return;
        if (req.message === 'not-found') {
          callback({
            code: grpc.status.NOT_FOUND,
            details: 'no such thing',
            metadata: trailer('unary-not-found'),
          });
          return;
        }
        callback(
          null,
          {
            message: req.message,
            index: 0,
            payload: Buffer.alloc(req.size ?? 0, 7),
            authority,
            peerCert: xfcc,
          },
          trailer(`unary-${req.message}`),
        );
      };
      if (req.delayMs) setTimeout(answer, req.delayMs);
      else answer();
    },
    Stream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      const req = call.request;
      call.on('cancelled', () => cancelled.push(req.message));
      for (let i = 0; i < (req.count ?? 0); i++) {
        call.write({
          message: req.message,
          index: i,
          payload: Buffer.alloc(req.size ?? 0, i % 256),
          authority: '',
          peerCert: '',
        });
      }
      call.end(trailer(`stream-${req.count}`));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    cancelled,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export interface EchoClient {
  unary(
    req: EchoRequest,
    deadlineMs?: number,
  ): Promise<{ reply?: EchoReply; error?: grpc.ServiceError; trailers?: grpc.Metadata }>;
  stream(req: EchoRequest): Promise<{ replies: EchoReply[]; status: grpc.StatusObject }>;
  close(): void;
}

/** A client that dials `127.0.0.1:<port>` (a sidecar's outbound) and names `authority`. */
export function echoClient(port: number, authority: string): EchoClient {
  const Echo = loadEcho();
  const client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  }) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  return {
    unary(req, deadlineMs) {
      return new Promise((resolve) => {
        let trailers: grpc.Metadata | undefined;
        const options: grpc.CallOptions = deadlineMs ? { deadline: Date.now() + deadlineMs } : {};
        const call = client.Unary(
          req,
          new grpc.Metadata(),
          options,
          (error: grpc.ServiceError | null, reply: EchoReply) =>
            setImmediate(() => resolve(error ? { error, trailers: error.metadata } : { reply, trailers })),
        ) as grpc.ClientUnaryCall;
        call.on('status', (s: grpc.StatusObject) => {
          trailers = s.metadata;
        });
      });
    },
    stream(req) {
      return new Promise((resolve, reject) => {
        const replies: EchoReply[] = [];
        const call = client.Stream(req) as grpc.ClientReadableStream<EchoReply>;
        call.on('data', (r: EchoReply) => replies.push(r));
        call.on('error', () => undefined);
        call.on('status', (status: grpc.StatusObject) => resolve({ replies, status }));
        call.on('error', (e: Error) => (e as grpc.ServiceError).code === undefined && reject(e));
      });
    },
    close: () => client.close(),
  };
}

export { grpc };
