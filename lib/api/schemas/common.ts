/** Shapes shared by several kinds. */
import { labelKeyError, labelValueError } from '../names.js';
import { joinPath } from '../path.js';
import { type Check, isRecord, list, map, obj, oneOf, reportInvalid, str } from '../schema.js';

export const port = (): Check => (v, path, ctx) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    reportInvalid(ctx, path, `${JSON.stringify(v)} is not a valid port; expected an integer from 1 to 65535`);
  }
};

/** A port given as a string (AuthorizationPolicy `ports`, PeerAuthentication keys). */
export function portStringError(text: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    return `${JSON.stringify(text)} is not a valid port; expected 1 to 65535`;
  }
  return undefined;
}

export const labels: Check = (v, path, ctx) => {
  if (!isRecord(v)) return reportInvalid(ctx, path, `expected a mapping of label keys to values`);
  for (const [k, x] of Object.entries(v)) {
    const p = joinPath(path, k);
    const keyProblem = labelKeyError(k);
    if (keyProblem) reportInvalid(ctx, p, keyProblem);
    const valueProblem = labelValueError(x);
    if (valueProblem) reportInvalid(ctx, p, valueProblem);
  }
};

export const workloadSelector: Check = obj({ matchLabels: labels });

export const exportTo: Check = list(
  str({
    check: (s) =>
      s === '.' || s === '*' || s === '~' || /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s)
        ? undefined
        : `${JSON.stringify(s)} is not a valid exportTo entry; expected ".", "*", "~" or a namespace name`,
  }),
);

export const stringMap: Check = map(str());

export const outboundTrafficPolicyMode = oneOf(['REGISTRY_ONLY', 'ALLOW_ANY']);
