/**
 * The telemetry settings a snapshot's MeshConfig carries (`accessLogging`, `traceSampling`,
 * `tracingCollector`), read and checked before a snapshot is applied so a bad value NACKs the
 * snapshot and changes nothing. Precedence is decided by the proxy: an explicit proxy option
 * (command-line flag) wins over MeshConfig, which wins over the built-in default.
 */
import type { MeshConfigSpec, MeshObject } from '../../lib/api/types.js';
import { ofKind, oldestFirst } from '../../lib/routing/objects.js';
import { resolveZipkinOptions } from './telemetry-export/zipkin.js';

export interface MeshTelemetrySettings {
  /** MeshConfig `accessLogging`, when set. */
  accessLogging?: boolean;
  /** MeshConfig `traceSampling` (percentage 0..100), when set. */
  traceSampling?: number;
  /** MeshConfig `tracingCollector` (Zipkin v2 URL), when set and not empty. */
  tracingCollector?: string;
}

/** Reads the (oldest) MeshConfig among the objects; throws naming the field on a bad value. */
export function meshTelemetrySettings(objects: readonly MeshObject[]): MeshTelemetrySettings {
  const mesh = oldestFirst(ofKind(objects, 'MeshConfig'))[0];
  const spec: MeshConfigSpec = mesh?.spec ?? {};
  const where = `MeshConfig ${mesh?.metadata.namespace ?? ''}/${mesh?.metadata.name ?? ''}`;
  const out: MeshTelemetrySettings = {};
  if (spec.accessLogging !== undefined) {
    if (typeof spec.accessLogging !== 'boolean')
      throw new Error(
        `${where}: spec.accessLogging must be true or false, got ${JSON.stringify(spec.accessLogging)}`,
      );
    out.accessLogging = spec.accessLogging;
  }
  if (spec.traceSampling !== undefined) {
    const s = spec.traceSampling;
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s > 100)
      throw new Error(
        `${where}: spec.traceSampling must be a percentage between 0 and 100, got ${JSON.stringify(s)}`,
      );
    out.traceSampling = s;
  }
  if (spec.tracingCollector !== undefined && spec.tracingCollector !== '') {
    try {
      resolveZipkinOptions({ endpoint: spec.tracingCollector });
    } catch {
      throw new Error(
        `${where}: spec.tracingCollector must be an http(s) URL, got ${JSON.stringify(spec.tracingCollector)}`,
      );
    }
    out.tracingCollector = spec.tracingCollector;
  }
  return out;
}
