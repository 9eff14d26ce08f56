/**
 * `npx cdk8s synth` (cdk8s.yaml) runs this file: one output file per example mesh in dist/,
 * each with its own control plane, so any one of them runs on its own.
 */
import { App } from 'cdk8s';
import { BookinfoChart } from './bookinfo/bookinfo.js';
import { BookinfoPlainChart } from './bookinfo/bookinfo-plain.js';
import { HttpbinChart } from './httpbin/httpbin.js';

export function synthExamples(app: App): void {
  new BookinfoChart(app, 'bookinfo');
  new BookinfoPlainChart(app, 'bookinfo-plain');
  new HttpbinChart(app, 'httpbin');
}

const app = new App();
synthExamples(app);
app.synth();
