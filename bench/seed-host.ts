/*
 * Seeds one server's database for `npm run bench` (bench/run.ts forks it; not run on its own),
 * in a process of its own that exits before the server starts, so the server's memory holds
 * what serving needs and nothing the bulk load left behind.
 *   full      personal data encrypted by the repository code under the server's PII keys
 *   baseline  the same rows through a no-op cipher (plaintext), for the bare server (and for
 *             the full server too when BENCH_FULL_CIPHER=none)
 */
import "reflect-metadata";
import { parseConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { openServices } from "../src/services.js";
import { BENCH_DATASET, seedDataset } from "./support/dataset.js";
import type { SeedReply, ServerName } from "./support/host-protocol.js";
import { PlaintextCipher } from "./support/plaintext-cipher.js";

const name = process.env.BENCH_SERVER as ServerName;
const { config } = parseConfig(process.env);
const opened = await openServices(config, createLogger(config.logLevel));
const encrypted = name === "full" && process.env.BENCH_FULL_CIPHER !== "none";
const services = encrypted ? opened : { ...opened, cipher: new PlaintextCipher() };

const started = performance.now();
const customers = Number(process.env.BENCH_CUSTOMERS); // checked and always set by bench/run.ts
const size = {
  ...BENCH_DATASET,
  customersPerOrganization: Math.ceil(customers / BENCH_DATASET.organizations),
};
const members = await seedDataset(services, size, name);
const seedSeconds = (performance.now() - started) / 1000;
await services.database.close();
await services.redis?.quit();

process.send!({ type: "seeded", members, seedSeconds } satisfies SeedReply, () => process.exit(0));
