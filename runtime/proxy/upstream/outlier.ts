/**
 * Outlier detection for one cluster (SEMANTICS.md "Load balancing and circuit breaking"):
 * consecutive 5xx (connect failures, resets and timeouts count as 5xx) or consecutive gateway
 * errors eject an endpoint at once, if (ejected + 1) / endpoints stays within
 * maxEjectionPercent; a sweep every `interval` returns endpoints whose ejection time
 * (base × times ejected, capped at 300 s) is over. Overflow never reaches this module.
 */
import type { OutlierDetectionPolicy } from '../../../lib/routing/types.js';

export const MAX_EJECTION_TIME_MS = 300_000;

export interface OutlierState {
  consecutive5xx: number;
  consecutiveGateway: number;
  ejected: boolean;
  /** When the endpoint was last ejected (ms since epoch). */
  ejectedAt: number;
  /** How long the current ejection lasts. */
  ejectionMs: number;
  /** Times ejected; decremented once per base ejection time spent healthy. */
  ejections: number;
  /** When the endpoint last returned from an ejection (or last had its count decremented). */
  returnedAt: number;
}

export function newOutlierState(): OutlierState {
  return {
    consecutive5xx: 0,
    consecutiveGateway: 0,
    ejected: false,
    ejectedAt: 0,
    ejectionMs: 0,
    ejections: 0,
    returnedAt: 0,
  };
}

export interface OutlierHost {
  outlier: OutlierState;
}

export class OutlierDetector<H extends OutlierHost> {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private policy: OutlierDetectionPolicy,
    private readonly hosts: () => readonly H[],
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.sweep(), Math.max(1, this.policy.intervalMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  update(policy: OutlierDetectionPolicy): void {
    const restart = policy.intervalMs !== this.policy.intervalMs;
    this.policy = policy;
    if (restart && this.timer) this.start();
  }

  /** Records the outcome of one request; `status` 0 stands for connect failure, reset or timeout. */
  report(host: H, status: number): void {
    const s = host.outlier;
    if (status >= 500 || status === 0) {
      s.consecutive5xx++;
      if (status === 0 || status === 502 || status === 503 || status === 504) s.consecutiveGateway++;
      else s.consecutiveGateway = 0;
      if (s.ejected) return;
      const p = this.policy;
      const by5xx = p.consecutive5xxErrors > 0 && s.consecutive5xx >= p.consecutive5xxErrors;
      const byGateway = p.consecutiveGatewayErrors > 0 && s.consecutiveGateway >= p.consecutiveGatewayErrors;
      if (by5xx || byGateway) this.tryEject(host);
    } else {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
    }
  }

  isEjected(host: H): boolean {
    return host.outlier.ejected;
  }

  private tryEject(host: H): void {
    const all = this.hosts();
    let ejected = 0;
    for (const h of all) if (h.outlier.ejected) ejected++;
    if (((ejected + 1) / all.length) * 100 > this.policy.maxEjectionPercent) return;
    const s = host.outlier;
    s.ejections++;
    s.ejected = true;
    s.ejectedAt = this.now();
    s.ejectionMs = Math.min(this.policy.baseEjectionTimeMs * s.ejections, MAX_EJECTION_TIME_MS);
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
  }

  /** Returns endpoints whose ejection is over; slowly forgets past ejections of healthy ones. */
  sweep(): void {
    const now = this.now();
    for (const h of this.hosts()) {
      const s = h.outlier;
      if (s.ejected) {
        if (now - s.ejectedAt >= s.ejectionMs) {
          s.ejected = false;
          s.returnedAt = now;
        }
      } else if (s.ejections > 0 && now - s.returnedAt >= this.policy.baseEjectionTimeMs) {
        s.ejections--;
        s.returnedAt = now;
      }
    }
  }
}
