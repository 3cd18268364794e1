/**
 * Entry point: load the configuration, build the app, listen; on SIGINT or
 * SIGTERM stop accepting connections, let in-flight requests finish, cancel
 * running jobs, close the worker pool and the database, exit.
 */
import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    // Connections that turn idle after close() began (a keep-alive client that got its answer) are closed as they do.
    const reaper = setInterval(() => app.server.closeIdleConnections(), 100);
    reaper.unref();
    const force = setTimeout(() => {
      app.log.error('shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    app.close().then(
      () => {
        app.log.info({ signal }, 'stopped');
        process.exit(0);
      },
      (err) => {
        app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  await app.listen({ port: config.port, host: config.host });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
