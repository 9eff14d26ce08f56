/**
 * Kubernetes bootstrap: the pod's projected service-account token (audience `tsmesh-ca`) is
 * checked with the TokenReview API. The control plane needs only `create` on
 * `tokenreviews.authentication.k8s.io` (ClusterRole in docs/control-plane.md).
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { TOKEN_AUDIENCE } from '../../lib/constants.js';

export interface TokenReviewOptions {
  /** `https://host:port` of the API server. */
  apiServer: string;
  /** The cluster CA (PEM) that signed the API server's certificate. */
  caPem: string;
  /** The control plane's own credential; re-read on every call because kubelet rotates it. */
  bearerToken: () => Promise<string>;
  /** @default 'tsmesh-ca' */
  audience?: string;
  /** @default 5000 */
  timeoutMs?: number;
}

export interface ReviewedIdentity {
  namespace: string;
  serviceAccount: string;
  /** Pod name, when the token is bound to a pod. */
  pod?: string;
}

const IN_CLUSTER = {
  tokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  caPath: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
};

export class TokenReviewer {
  private readonly options: Required<TokenReviewOptions>;

  constructor(options: TokenReviewOptions) {
    this.options = { audience: TOKEN_AUDIENCE, timeoutMs: 5000, ...options };
  }

  /** The in-cluster API server from KUBERNETES_SERVICE_HOST/PORT and the mounted credentials. */
  static async inCluster(env: NodeJS.ProcessEnv = process.env, paths = IN_CLUSTER): Promise<TokenReviewer> {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    if (!host)
      throw new Error('KUBERNETES_SERVICE_HOST is not set: --kubernetes needs to run inside a cluster');
    const caPem = await readFile(paths.caPath, 'utf8');
    const apiHost = host.includes(':') ? `[${host}]` : host;
    return new TokenReviewer({
      apiServer: `https://${apiHost}:${port}`,
      caPem,
      bearerToken: async () => (await readFile(paths.tokenPath, 'utf8')).trim(),
    });
  }

  /** The identity of a service-account token; throws when the API server does not vouch for it. */
  async review(token: string): Promise<ReviewedIdentity> {
    const body = JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: [this.options.audience] },
    });
    const response = await this.post('/apis/authentication.k8s.io/v1/tokenreviews', body);
    const status = (response as { status?: Record<string, any> }).status ?? {};
    if (status.error) throw new Error(`token review failed: ${status.error}`);
    if (status.authenticated !== true) throw new Error('token review: the token is not authenticated');
    const audiences: unknown = status.audiences;
    if (!Array.isArray(audiences) || !audiences.includes(this.options.audience)) {
      throw new Error(`token review: the token is not for audience ${this.options.audience}`);
    }
    const username: unknown = status.user?.username;
    const match =
      typeof username === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username) : null;
    if (!match) throw new Error(`token review: ${JSON.stringify(username)} is not a service account`);
    const podNames: unknown = status.user?.extra?.['authentication.kubernetes.io/pod-name'];
    const out: ReviewedIdentity = { namespace: match[1], serviceAccount: match[2] };
    if (Array.isArray(podNames) && typeof podNames[0] === 'string') out.pod = podNames[0];
    return out;
  }

  private async post(path: string, body: string): Promise<unknown> {
    const bearer = await this.options.bearerToken();
    const url = new URL(path, this.options.apiServer);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          ca: this.options.caPem,
          headers: {
            authorization: `Bearer ${bearer}`,
            'content-type': 'application/json',
            accept: 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          timeout: this.options.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 1024 * 1024) req.destroy(new Error('token review: response over 1 MiB'));
            else chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 201 && res.statusCode !== 200) {
              let reason = text.slice(0, 300);
              try {
                reason = (JSON.parse(text) as { message?: string }).message ?? reason;
              } catch {}
              const hint =
                res.statusCode === 403
                  ? ' (the control plane needs create on tokenreviews.authentication.k8s.io)'
                  : '';
              reject(new Error(`token review: API server answered ${res.statusCode}: ${reason}${hint}`));
              return;
            }
            try {
              resolve(JSON.parse(text));
            } catch {
              reject(new Error('token review: the API server answered with invalid JSON'));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`token review: no answer within ${this.options.timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
