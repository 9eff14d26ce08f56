import { describe, expect, it } from 'vitest';
import {
  decodePeerMetadata,
  encodePeerMetadata,
  MAX_PEER_METADATA_LENGTH,
  PeerMetadataDecoder,
  UNKNOWN_WORKLOAD,
  workloadFacts,
} from '../../../runtime/proxy/telemetry/index.js';

const productpage = workloadFacts('productpage-v1', 'default', { app: 'productpage', version: 'v1' });

describe('peer metadata', () => {
  it('round-trips the client workload facts in a compact header value', () => {
    const value = encodePeerMetadata(productpage);
    expect(value).toBe('1;default;productpage-v1;productpage;v1;productpage;v1;Kubernetes');
    expect(decodePeerMetadata(value)).toEqual(productpage);
  });

  it('sends unknown facts as empty fields and reads them back as unknown', () => {
    const value = encodePeerMetadata(UNKNOWN_WORKLOAD);
    expect(value).toBe('1;;;;;;;');
    expect(decodePeerMetadata(value)).toEqual(UNKNOWN_WORKLOAD);
  });

  it('never encodes characters outside label-value syntax', () => {
    const odd = workloadFacts('a;b', 'ns', { app: 'x y' });
    const decoded = decodePeerMetadata(encodePeerMetadata(odd));
    expect(decoded).toMatchObject({ workload: 'unknown', app: 'unknown', namespace: 'ns' });
  });

  it.each([
    ['absent', undefined],
    ['several header lines', ['1;a;b;c;d;e;f;g', '1;a;b;c;d;e;f;g']],
    ['unknown version', '2;default;w;a;v;a;v;c'],
    ['too few fields', '1;default;w'],
    ['too many fields', '1;a;b;c;d;e;f;g;h'],
    ['bad characters', '1;default;w=1;a;v;a;v;c'],
    ['spaces', '1;default; w;a;v;a;v;c'],
    ['oversized', `1;${'a'.repeat(MAX_PEER_METADATA_LENGTH)};w;a;v;a;v;c`],
  ])('rejects %s', (_what, value) => {
    expect(decodePeerMetadata(value as string | string[] | undefined)).toBeUndefined();
  });

  it('keeps encoded values within the length bound even for huge names', () => {
    const huge = workloadFacts('w'.repeat(253), 'n'.repeat(63), {
      app: 'a'.repeat(63),
      version: 'v'.repeat(63),
      'service.istio.io/canonical-name': 'c'.repeat(63),
    });
    const value = encodePeerMetadata(huge);
    expect(value.length).toBeLessThanOrEqual(MAX_PEER_METADATA_LENGTH);
    expect(decodePeerMetadata(value)?.namespace).toBe('n'.repeat(63));
  });

  it('returns the same object for the same value from a bounded decoder', () => {
    const decoder = new PeerMetadataDecoder(2);
    const v = encodePeerMetadata(productpage);
    const first = decoder.decode(v);
    expect(decoder.decode(v)).toBe(first);
    expect(decoder.decode('garbage')).toBeUndefined();
    expect(decoder.decode('garbage')).toBeUndefined();
    decoder.decode('1;x;;;;;;');
    decoder.decode('1;y;;;;;;'); // over the bound: the cache starts over, results stay right
    expect(decoder.decode(v)).toEqual(productpage);
  });
});
