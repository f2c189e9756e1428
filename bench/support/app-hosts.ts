import "reflect-metadata";
import { buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import type { Services } from "../../src/graphql/types.js";
import { buildResolverSchema } from "../../src/graphql/schema.js";
import { createLogger } from "../../src/logger.js";
import { openServices } from "../../src/services.js";
import { startBaselineServer } from "./baseline-server.js";
import type { HostedServer } from "./hosted-server.js";
import { listenLocally } from "./http.js";
import { PlaintextCipher } from "./plaintext-cipher.js";

/*
 * The servers of `npm run bench` built from the application's code: imported by
 * bench/server-host.ts only for them, so that the bare server's process never loads it.
 */

/** buildApp in production mode; `unencrypted` (BENCH_FULL_CIPHER=none) over plaintext data. */
export async function startFull(unencrypted: boolean): Promise<HostedServer> {
  const { config } = parseConfig(process.env);
  const app = await buildApp(config, unencrypted ? { cipher: new PlaintextCipher() } : {});
  return {
    url: await listenLocally(app.server),
    driver: app.services.database.driver,
    statements: () => app.services.database.stats.statements,
    flush: () => app.audit.flush(),
    close: () => app.close(),
  };
}

/** The baseline reads a plaintext data set written by the same repository code (no-op cipher). */
export async function startBaseline(): Promise<HostedServer> {
  const { config } = parseConfig(process.env);
  const opened = await openServices(config, createLogger(config.logLevel));
  const services: Services = { ...opened, cipher: new PlaintextCipher() };
  const baseline = await startBaselineServer(services, await buildResolverSchema());
  return {
    url: baseline.url,
    driver: services.database.driver,
    statements: () => services.database.stats.statements,
    flush: () => Promise.resolve(),
    close: async () => {
      await baseline.close();
      await services.database.close();
      await services.redis?.quit();
    },
  };
}
