/**
 * The HTTP routes of one host. Routes for a service merge into its one VirtualService (Istio
 * does not merge two VirtualServices for a host on sidecars), ordered by priority and then by
 * the order they were declared.
 */
import type { HTTPRoute } from '../../lib/api/types.js';

export const DEFAULT_MATCH_PRIORITY = 100;
export const DEFAULT_CATCH_ALL_PRIORITY = 1000;

export interface RouteEntry {
  readonly name: string;
  readonly priority: number;
  /** True when the route has no match (it takes every request that reaches it). */
  readonly catchAll: boolean;
  readonly route: HTTPRoute;
  /** The construct path, for messages. */
  readonly path: string;
}

export class RouteTable {
  private readonly entries: (RouteEntry & { order: number })[] = [];

  public constructor(private readonly owner: string) {}

  public add(entry: RouteEntry): void {
    const same = this.entries.find((e) => e.name === entry.name);
    if (same) {
      throw new Error(
        `${this.owner}: duplicate route name '${entry.name}' (${entry.path} and ${same.path}); route names must be unique per service`,
      );
    }
    const catchAll = this.entries.find((e) => e.catchAll);
    if (entry.catchAll && catchAll) {
      throw new Error(
        `${this.owner}: route '${entry.name}' has no match, but route '${catchAll.name}' already takes every request; give one of them a match`,
      );
    }
    this.entries.push({ ...entry, order: this.entries.length });
  }

  public get size(): number {
    return this.entries.length;
  }

  public get hasCatchAll(): boolean {
    return this.entries.some((e) => e.catchAll);
  }

  public sorted(): RouteEntry[] {
    return [...this.entries].sort((a, b) => a.priority - b.priority || a.order - b.order);
  }

  /** Routes placed after the catch-all route can never match. */
  public unreachable(): string[] {
    const sorted = this.sorted();
    const i = sorted.findIndex((e) => e.catchAll);
    if (i === -1) return [];
    return sorted
      .slice(i + 1)
      .map(
        (e) =>
          `${this.owner}: route '${e.name}' (priority ${e.priority}) comes after route '${sorted[i].name}' (priority ${sorted[i].priority}), which has no match, so it can never match; give it a lower priority`,
      );
  }

  public render(): HTTPRoute[] {
    return this.sorted().map((e) => e.route);
  }
}
