import type { HostedServer } from "../hosted-server.js";
import { startBareServer } from "./server.js";
import { type BareSql, openPglite, openPostgres } from "./sql.js";

/**
 * The bare server as bench/server-host.ts runs it, over the database bench/seed-host.ts seeded
 * for it (a plaintext copy, like the baseline's): DATABASE_URL, else PGlite under DATA_DIR.
 * JWT_SECRET, JWT_ISSUER/JWT_AUDIENCE and BCRYPT_ROUNDS come from the bench's environment.
 */
export async function startBare(): Promise<HostedServer> {
  const env = process.env;
  const sql: BareSql = env.DATABASE_URL
    ? openPostgres(env.DATABASE_URL)
    : await openPglite(env.DATA_DIR ?? "./data");
  const server = await startBareServer({
    sql,
    tokens: {
      secret: env.JWT_SECRET ?? "",
      issuer: env.JWT_ISSUER ?? "customer-records-api",
      audience: env.JWT_AUDIENCE ?? "customer-records-api",
    },
    bcryptRounds: Number(env.BCRYPT_ROUNDS ?? 10),
  });
  return {
    url: server.url,
    driver: sql.driver,
    statements: () => sql.statements,
    flush: () => Promise.resolve(),
    close: async () => {
      await server.stop();
      await sql.close();
    },
  };
}
