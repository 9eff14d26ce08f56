import { describe, expect, it } from 'vitest';
import { formatPath, joinPath } from '../../../lib/api/path.js';

describe('field paths', () => {
  it('joins names with dots and indexes with brackets', () => {
    expect(formatPath(['spec', 'http', 1, 'route', 0, 'weight'])).toBe('spec.http[1].route[0].weight');
  });
  it('quotes keys that are not plain identifiers', () => {
    expect(joinPath('spec.http[0].match[0].headers', 'end-user')).toBe(
      'spec.http[0].match[0].headers["end-user"]',
    );
    expect(joinPath('metadata.labels', 'app.kubernetes.io/name')).toBe(
      'metadata.labels["app.kubernetes.io/name"]',
    );
  });
  it('starts a path without a leading dot', () => {
    expect(joinPath('', 'spec')).toBe('spec');
  });
});
