/** `tsmesh control-plane`: runs the control plane until SIGINT/SIGTERM. */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDuration } from '../../lib/api/duration.js';
import { DEFAULT_ROOT_NAMESPACE } from '../../lib/constants.js';
import { CA_FILES, CaMissingError, caMissingAdvice } from './ca-store.js';
import { type ControlPlaneOptions, parseHostPort } from './options.js';
import { ControlPlane } from './server.js';
import { readServiceAddresses } from './service-addresses.js';
import { TokenReviewer } from './token-review.js';

export interface ControlPlaneCliOptions {
  config: string[];
  stateDir: string;
  listen: string;
  monitoring: string;
  adminSocket?: string;
  caDir?: string;
  kubernetes?: boolean;
  namespace?: string;
  trustDomain?: string;
  certTtl?: string;
  adminSa?: string[];
  gracePeriod?: string;
  warmup?: string;
  serviceAddresses?: string;
}

export async function runControlPlane(cli: ControlPlaneCliOptions): Promise<number> {
  let options: ControlPlaneOptions;
  try {
    options = {
      configPaths: cli.config,
      stateDir: cli.stateDir,
      listen: parseHostPort(cli.listen, '--listen'),
      monitoring: cli.monitoring === 'off' ? null : parseHostPort(cli.monitoring, '--monitoring'),
      ...(cli.adminSocket ? { adminSocket: cli.adminSocket } : {}),
      ...(cli.caDir ? { caDir: cli.caDir } : {}),
      kubernetes: cli.kubernetes === true,
      ...(cli.namespace ? { namespace: cli.namespace } : {}),
      ...(cli.trustDomain ? { trustDomain: cli.trustDomain } : {}),
      ...(cli.certTtl ? { certTtlMs: parseDuration(cli.certTtl) } : {}),
      ...(cli.gracePeriod ? { graceMs: parseDuration(cli.gracePeriod) } : {}),
      ...(cli.warmup ? { warmupMs: parseDuration(cli.warmup) } : {}),
      ...(cli.serviceAddresses ? { serviceAddresses: await readServiceAddresses(cli.serviceAddresses) } : {}),
      adminServiceAccounts: (cli.adminSa ?? []).map((v) => {
        if (!/^[a-z0-9-.]+\/[a-z0-9-.]+$/.test(v))
          throw new Error(`--admin-sa: expected NAMESPACE/SERVICEACCOUNT, got ${JSON.stringify(v)}`);
        return v;
      }),
    };
    if (options.kubernetes) {
      const caDir = options.caDir ?? join(options.stateDir, 'ca');
      const present = await Promise.all(
        [CA_FILES.cert, CA_FILES.key].map((f) =>
          stat(join(caDir, f)).then(
            () => true,
            () => false,
          ),
        ),
      );
      if (present.includes(false)) {
        process.stderr.write(
          `tsmesh control-plane: ${caMissingAdvice(caDir, options.namespace ?? DEFAULT_ROOT_NAMESPACE)}\n`,
        );
        return 3;
      }
      options.tokenReviewer = await TokenReviewer.inCluster();
    }
  } catch (err) {
    process.stderr.write(`tsmesh control-plane: ${(err as Error).message}\n`);
    return 2;
  }
  let cp: ControlPlane;
  try {
    cp = await ControlPlane.start(options);
  } catch (err) {
    if (err instanceof CaMissingError) {
      process.stderr.write(`tsmesh control-plane: ${err.message}\n`);
      return 3;
    }
    process.stderr.write(`tsmesh control-plane: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const a = cp.addresses;
  process.stderr.write(
    `[control-plane] ready: discovery ${a.discovery.address}:${a.discovery.port}` +
      `${a.monitoring ? `, monitoring ${a.monitoring.address}:${a.monitoring.port}` : ''}, admin ${a.adminSocket}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await cp.close();
  return 0;
}
