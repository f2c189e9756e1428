import "reflect-metadata";
import { type App, buildApp } from "./app.js";
import { ConfigError, parseConfig } from "./config.js";
import { databaseUnavailableCause } from "./db/availability.js";
import { loadEnvironment } from "./env-file.js";
import { createServerLogger } from "./logger.js";
import { startTracing } from "./telemetry/start.js";

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(loadEnvironment());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const { config, warnings } = parsed;
  const logger = createServerLogger(config);
  for (const warning of warnings) logger.warn(warning);

  const tracing = await startTracing(process.env, logger);
  let app: App;
  try {
    app = await buildApp(config, { logger, ...(tracing && { tracing }) });
    await app.server.listen({ port: config.port, host: config.host });
  } catch (error) {
    // the serializer keeps a failed statement's parameters out; the cause names an outage
    logger.fatal({ err: error, cause: databaseUnavailableCause(error) }, "failed to start");
    process.exit(1);
  }
  logger.info(
    `GraphQL API at ${config.tls ? "https" : "http"}://localhost:${config.port}/graphql (${config.nodeEnv}, ${app.services.database.driver})`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    // Past SHUTDOWN_TIMEOUT_SECONDS, exit rather than hang on a stuck request.
    setTimeout(() => {
      logger.error("shutdown did not finish in time");
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    app.close().then(
      () => {
        logger.info({ signal }, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  console.error("failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});
