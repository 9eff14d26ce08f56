/**
 * The Kubernetes fields the mesh reads (names, labels, selectors, ports, service accounts).
 * Other fields are Kubernetes' business and are left alone.
 */
import { dnsSubdomainError, portNameError } from '../names.js';
import { joinPath } from '../path.js';
import { type Check, int, isRecord, list, obj, oneOf, reportInvalid, required, str } from '../schema.js';
import { labels, port } from './common.js';

const lenient = { unknownFields: 'ignore' } as const;

const targetPort: Check = (v, path, ctx) => {
  if (typeof v === 'number') return port()(v, path, ctx);
  if (typeof v === 'string') {
    if (/^[0-9]+$/.test(v)) return port()(Number(v), path, ctx);
    const problem = portNameError(v);
    if (problem) reportInvalid(ctx, path, problem);
    return;
  }
  reportInvalid(ctx, path, `expected a port number (1 to 65535) or a port name, got ${JSON.stringify(v)}`);
};

const servicePort = obj(
  {
    name: str({ check: portNameError15 }),
    port: required(port()),
    targetPort,
    protocol: oneOf(['TCP', 'UDP', 'SCTP']),
    appProtocol: str(),
    nodePort: int({ min: 1, max: 65535 }),
  },
  lenient,
);

function portNameError15(name: string): string | undefined {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
    return `${JSON.stringify(name)} is not a valid port name; expected a DNS label`;
  }
  return undefined;
}

export const serviceSpec = obj(
  { selector: labels, ports: list(servicePort), type: str(), clusterIP: str() },
  {
    ...lenient,
    check: (s, p, ctx) => {
      const ports = Array.isArray(s.ports) ? s.ports.filter(isRecord) : [];
      if (ports.length > 1) {
        ports.forEach((x, i) => {
          if (x.name === undefined)
            reportInvalid(
              ctx,
              `${p}.ports[${i}].name`,
              'a Service with more than one port must name every port',
            );
        });
      }
      const seen = new Map<string, number>();
      ports.forEach((x, i) => {
        const key = `${x.port}/${x.protocol ?? 'TCP'}`;
        if (seen.has(key))
          reportInvalid(ctx, `${p}.ports[${i}].port`, `duplicate port ${key} (also ports[${seen.get(key)}])`);
        else seen.set(key, i);
      });
    },
  },
);

const containerPort = obj(
  {
    name: str({ check: portNameError }),
    containerPort: required(port()),
    protocol: oneOf(['TCP', 'UDP', 'SCTP']),
  },
  lenient,
);

const container = obj(
  { name: required(str({ nonEmpty: true })), image: str(), ports: list(containerPort) },
  lenient,
);

const podSpec = obj(
  {
    serviceAccountName: str({ check: dnsSubdomainError }),
    containers: required(list(container, { minItems: 1 })),
    initContainers: list(container),
  },
  lenient,
);

export const deploymentSpec = obj(
  {
    replicas: int({ min: 0 }),
    selector: required(obj({ matchLabels: labels }, lenient)),
    template: required(obj({ metadata: obj({ labels }, lenient), spec: required(podSpec) }, lenient)),
  },
  {
    ...lenient,
    check: (s, p, ctx) => {
      const want =
        isRecord(s.selector) && isRecord(s.selector.matchLabels) ? s.selector.matchLabels : undefined;
      const meta = isRecord(s.template) && isRecord(s.template.metadata) ? s.template.metadata : undefined;
      const have = meta && isRecord(meta.labels) ? meta.labels : {};
      if (!want) return;
      for (const [k, v] of Object.entries(want)) {
        if (have[k] !== v) {
          reportInvalid(
            ctx,
            joinPath(`${p}.selector.matchLabels`, k),
            `selector ${k}=${String(v)} does not match the pod template's labels (template has ${k}=${have[k] === undefined ? 'nothing' : String(have[k])})`,
          );
        }
      }
    },
  },
);
