import "reflect-metadata";
import { buildApp } from "../../app.js";
import { parseConfig } from "../../config.js";
import { seedDemoDataIfEmpty } from "../seed.js";
import { loadEnvironment } from "../../env-file.js";

const { config } = parseConfig(loadEnvironment());
if (config.isProduction) {
  console.error("refusing to seed demo data in production");
  process.exit(1);
}
const app = await buildApp({ ...config, seedDemoData: false });
const seeded = await seedDemoDataIfEmpty(app.services);
console.log(seeded ? "demo data seeded" : "database not empty: nothing seeded");
await app.close();
