/**
 * Service configuration from environment variables, validated at boot.
 * A bad value stops the service with a message naming the variable.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const ConfigSchema = z.object({
  PORT: integer(0, 65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  WORKERS: integer(1, 256).default(availableParallelism()),
  /** Largest request body in bytes (default 64 MiB: about 20,000 vectors of 784 dimensions as JSON). */
  BODY_LIMIT: integer(1024, 2 ** 31 - 1).default(64 * 1024 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** FULL: acknowledged writes survive power loss; NORMAL: they survive a process crash. */
  SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  workers: number;
  bodyLimit: number;
  logLevel: z.infer<typeof ConfigSchema>['LOG_LEVEL'];
  sqliteSynchronous: 'FULL' | 'NORMAL';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(Object.keys(ConfigSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const r = ConfigSchema.safeParse(picked);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = r.data;
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: c.DATA_DIR,
    workers: c.WORKERS,
    bodyLimit: c.BODY_LIMIT,
    logLevel: c.LOG_LEVEL,
    sqliteSynchronous: c.SQLITE_SYNCHRONOUS,
  };
}
