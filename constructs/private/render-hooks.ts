/**
 * Render-time transforms of an ApiObject's JSON. Sidecar injection edits the rendered pod spec,
 * like Istio's injection webhook edits the pod it admits, so it sees every container, probe and
 * label the program set, whatever order the program set them in.
 */
import type { ApiObject } from 'cdk8s';
import { sortKeysDeep } from './validate-input.js';

export type RenderHook = (json: Record<string, any>) => Record<string, any>;

const HOOKS = Symbol.for('tsmesh.renderHooks');

export function addRenderHook(apiObject: ApiObject, hook: RenderHook): void {
  const target = apiObject as ApiObject & { [HOOKS]?: RenderHook[] };
  if (!target[HOOKS]) {
    const hooks: RenderHook[] = [];
    target[HOOKS] = hooks;
    const render = apiObject.toJson.bind(apiObject);
    apiObject.toJson = () => {
      let json = render();
      for (const h of hooks) json = h(json);
      const { apiVersion, kind, metadata, ...rest } = sortKeysDeep(json);
      return { apiVersion, kind, metadata, ...rest };
    };
  }
  target[HOOKS]!.push(hook);
}
