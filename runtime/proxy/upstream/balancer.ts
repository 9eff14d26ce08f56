/**
 * Load balancers over the healthy endpoints of a cluster. Each picks one endpoint from a
 * candidate list; a consistent-hash balancer can slot in by implementing the same interface
 * with a key from the request context.
 */
import type { LoadBalancerKind } from '../../../lib/routing/types.js';
import { RingHashBalancer } from './consistent-hash.js';

export interface BalancedEndpoint {
  /** Requests in flight to this endpoint. */
  active: number;
}

export interface PickContext {
  random: () => number;
  /** The request's hash key, for consistent-hash balancers (unused by the simple ones). */
  hashKey?: string;
}

export interface Balancer {
  pick<E extends BalancedEndpoint>(candidates: readonly E[], ctx: PickContext): E | undefined;
}

/** Power of two choices: two random endpoints, the one with fewer requests in flight wins. */
export class LeastRequestBalancer implements Balancer {
  pick<E extends BalancedEndpoint>(candidates: readonly E[], ctx: PickContext): E | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const a = Math.floor(ctx.random() * n);
    let b = Math.floor(ctx.random() * (n - 1));
    if (b >= a) b++;
    const ea = candidates[a];
    const eb = candidates[b];
    return eb.active < ea.active ? eb : ea;
  }
}

export class RoundRobinBalancer implements Balancer {
  private next = 0;
  pick<E extends BalancedEndpoint>(candidates: readonly E[]): E | undefined {
    if (candidates.length === 0) return undefined;
    const e = candidates[this.next % candidates.length];
    this.next = (this.next + 1) % 1_000_000_007;
    return e;
  }
}

export class RandomBalancer implements Balancer {
  pick<E extends BalancedEndpoint>(candidates: readonly E[], ctx: PickContext): E | undefined {
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(ctx.random() * candidates.length)];
  }
}

/** The balancer for a policy kind (consistent hash: a ring over the endpoints, consistent-hash.ts). */
export function createBalancer(kind: LoadBalancerKind): Balancer {
  switch (kind) {
    case 'ROUND_ROBIN':
      return new RoundRobinBalancer();
    case 'RANDOM':
      return new RandomBalancer();
    case 'CONSISTENT_HASH':
      return new RingHashBalancer();
    default:
      return new LeastRequestBalancer();
  }
}
