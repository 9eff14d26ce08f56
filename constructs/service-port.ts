import { checkPort } from './private/validate-input.js';

/** The protocol of a service port (Istio's port-name prefixes and appProtocol values). */
export enum Protocol {
  HTTP = 'http',
  HTTP2 = 'http2',
  GRPC = 'grpc',
  TCP = 'tcp',
}

/** A port of a {@link MeshService}. */
export interface ServicePortOptions {
  /** The port clients call (the Service port). */
  readonly port: number;
  /**
   * The port the app listens on (the container port).
   * @default - the same as `port`
   */
  readonly targetPort?: number;
  /**
   * The protocol, which also sets the port name prefix and `appProtocol`.
   * @default Protocol.HTTP
   */
  readonly protocol?: Protocol;
  /**
   * The port name; it must start with the protocol (`http`, `http-web`).
   * @default - the protocol, or `<protocol>-<port>` when the service has several ports of that protocol
   */
  readonly name?: string;
}

/**
 * A service port with its protocol. Use the static factories.
 *
 * @example
 * ServicePort.http(9080);
 * ServicePort.http(8000, { targetPort: 8080 });
 * ServicePort.grpc(50051, { name: 'grpc-api' });
 */
export class ServicePort {
  public static http(port: number, options: Omit<ServicePortOptions, 'port' | 'protocol'> = {}): ServicePort {
    return new ServicePort({ ...options, port, protocol: Protocol.HTTP });
  }
  public static http2(
    port: number,
    options: Omit<ServicePortOptions, 'port' | 'protocol'> = {},
  ): ServicePort {
    return new ServicePort({ ...options, port, protocol: Protocol.HTTP2 });
  }
  public static grpc(port: number, options: Omit<ServicePortOptions, 'port' | 'protocol'> = {}): ServicePort {
    return new ServicePort({ ...options, port, protocol: Protocol.GRPC });
  }
  public static tcp(port: number, options: Omit<ServicePortOptions, 'port' | 'protocol'> = {}): ServicePort {
    return new ServicePort({ ...options, port, protocol: Protocol.TCP });
  }
  public static of(options: ServicePortOptions): ServicePort {
    return new ServicePort(options);
  }

  public readonly port: number;
  public readonly targetPort: number;
  public readonly protocol: Protocol;
  /** The name given, if any (the service fills in the default). */
  public readonly name?: string;

  private constructor(options: ServicePortOptions) {
    this.port = checkPort('service port: port', options.port);
    this.targetPort = checkPort('service port: targetPort', options.targetPort ?? options.port);
    this.protocol = options.protocol ?? Protocol.HTTP;
    if (!Object.values(Protocol).includes(this.protocol)) {
      throw new Error(
        `service port ${this.port}: protocol must be one of ${Object.values(Protocol).join(', ')}, got ${JSON.stringify(this.protocol)}`,
      );
    }
    if (options.name !== undefined) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(options.name) || options.name.length > 15) {
        throw new Error(
          `service port ${this.port}: name must be a lower-case DNS label of at most 15 characters, got ${JSON.stringify(options.name)}`,
        );
      }
      if (options.name !== this.protocol && !options.name.startsWith(`${this.protocol}-`)) {
        throw new Error(
          `service port ${this.port}: name must be '${this.protocol}' or start with '${this.protocol}-' (protocol ${this.protocol}), got ${JSON.stringify(options.name)}`,
        );
      }
    }
    this.name = options.name;
  }
}
