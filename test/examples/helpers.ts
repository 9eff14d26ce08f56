import { type App, type Chart, Testing, Yaml } from 'cdk8s';
import type { MeshTarget } from '../../constructs/index.js';
import { BookinfoChart } from '../../examples/bookinfo/bookinfo.js';
import { BookinfoPlainChart } from '../../examples/bookinfo/bookinfo-plain.js';
import { HttpbinChart } from '../../examples/httpbin/httpbin.js';

export const EXAMPLES: Record<string, (app: App, target?: MeshTarget) => Chart> = {
  bookinfo: (app, target) => new BookinfoChart(app, 'bookinfo', { target }),
  'bookinfo-plain': (app, target) => new BookinfoPlainChart(app, 'bookinfo-plain', { target }),
  httpbin: (app, target) => new HttpbinChart(app, 'httpbin', { target }),
};

/** A fresh app with one example chart (each example synthesizes on its own). */
export function exampleChart(name: string, target?: MeshTarget): Chart {
  return EXAMPLES[name](Testing.app(), target);
}

export function synthObjects(name: string, target?: MeshTarget): any[] {
  return Testing.synth(exampleChart(name, target));
}

/** The YAML `cdk8s synth` writes for the example (same serializer as dist/). */
export function synthYaml(name: string, target?: MeshTarget): string {
  return Yaml.stringify(...synthObjects(name, target));
}
