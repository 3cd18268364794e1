/**
 * Service configuration from environment variables, validated at boot.
 * A bad value stops the service with a message naming the variable.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_QUERY_BATCH_WINDOW_US, HARD_LIMITS } from './tunables.js';

const integer = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

/** A comma-separated list (blanks around items and empty items ignored) whose every item matches `item`. */
const commaList = (item: RegExp, message: string) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    )
    .pipe(z.array(z.string().regex(item, message)));

/** API keys: each 16–256 characters of printable ASCII without spaces or commas. */
const keyList = commaList(/^[\x21-\x2b\x2d-\x7e]{16,256}$/, 'each key must be 16–256 printable ASCII characters (no spaces or commas)');

const originList = commaList(/^(\*|https?:\/\/[^\s/,]+)$/, 'each origin must be "*" or like https://example.com[:port]');

/** Default MAX_OPQ_DIMENSION; the API document quotes it. */
export const DEFAULT_MAX_OPQ_DIMENSION = 4096;

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
  /** Full-access API keys; unset (and READ_ONLY_API_KEYS unset) = no authentication. */
  API_KEYS: keyList.default([]),
  /** Keys that may list, read, query and evaluate, nothing else. */
  READ_ONLY_API_KEYS: keyList.default([]),
  /** Origins allowed to call the API from a browser; unset = CORS off. */
  CORS_ORIGINS: originList.default([]),
  /** A request still unanswered after this many ms is cancelled and answered 503 timeout. */
  REQUEST_TIMEOUT_MS: integer(100, 3_600_000).default(60_000),
  MAX_COLLECTIONS: integer(1, 1_000_000).default(1000),
  /** Training jobs running at once across all collections (each uses every worker). */
  MAX_TRAINING_JOBS: integer(1, 64).default(2),
  MAX_VECTORS_PER_REQUEST: integer(1, HARD_LIMITS.maxBatch).default(HARD_LIMITS.maxBatch),
  MAX_QUERIES_PER_REQUEST: integer(1, HARD_LIMITS.maxQueries).default(HARD_LIMITS.maxQueries),
  MAX_DIMENSION: integer(1, HARD_LIMITS.maxDimension).default(HARD_LIMITS.maxDimension),
  MAX_K: integer(1, HARD_LIMITS.maxK).default(HARD_LIMITS.maxK),
  MAX_RERANK: integer(0, HARD_LIMITS.maxRerank).default(HARD_LIMITS.maxRerank),
  MAX_METADATA_BYTES: integer(2, HARD_LIMITS.maxMetadataBytes).default(HARD_LIMITS.maxMetadataBytes),
  /** Candidates one request may ask for: k × max(rerank, 1) × queries (each is a heap entry and, re-ranked, a vector read). */
  MAX_CANDIDATES: integer(1, 1e9).default(1_000_000),
  /** Exact-search work one request may ask for: queries × stored vectors (untrained collections, /evaluate). */
  MAX_EXACT_WORK: integer(1, 1e12).default(100_000_000),
  /** OPQ learns a d × d rotation (several d² float64 matrices): collections above this dimension cannot use it. */
  MAX_OPQ_DIMENSION: integer(1, HARD_LIMITS.maxDimension).default(DEFAULT_MAX_OPQ_DIMENSION),
  /** Largest training sample in MiB (rows × dimension × 4 bytes); larger samples are lowered, with a warning. */
  MAX_TRAINING_SAMPLE_MB: integer(1, 65_536).default(512),
  /** Worker-pool tasks allowed to wait; beyond it requests are shed with 503 and Retry-After. */
  MAX_QUEUED_TASKS: integer(1, 1_000_000).default(2048),
  /** Queries of one collection arriving while its previous batch scans wait for it, at most this long (µs), and are scanned together; 0 = every query alone. */
  QUERY_BATCH_WINDOW_US: integer(0, 1_000_000).default(DEFAULT_QUERY_BATCH_WINDOW_US),
  /** Event-loop delay (ms) above which requests are shed with 503; 0 = off. */
  MAX_EVENT_LOOP_DELAY_MS: integer(0, 60_000).default(1000),
  /** V8 heap in use (MiB) above which requests are shed with 503; 0 = off. */
  MAX_HEAP_MB: integer(0, 1_048_576).default(0),
});

/** Limits enforced per request and per service; each names its variable in the error it causes. */
export interface Limits {
  maxCollections: number;
  maxTrainingJobs: number;
  maxVectorsPerRequest: number;
  maxQueriesPerRequest: number;
  maxDimension: number;
  maxK: number;
  maxRerank: number;
  maxMetadataBytes: number;
  maxCandidates: number;
  maxExactWork: number;
  maxOpqDimension: number;
  maxTrainingSampleBytes: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  workers: number;
  bodyLimit: number;
  logLevel: z.infer<typeof ConfigSchema>['LOG_LEVEL'];
  sqliteSynchronous: 'FULL' | 'NORMAL';
  apiKeys: string[];
  readOnlyApiKeys: string[];
  corsOrigins: string[];
  requestTimeoutMs: number;
  maxQueuedTasks: number;
  queryBatchWindowMicros: number;
  maxEventLoopDelayMs: number;
  maxHeapBytes: number;
  limits: Limits;
}

/** The variable behind each limit, for error messages. */
export const LIMIT_VARIABLES: Record<keyof Limits, string> = {
  maxCollections: 'MAX_COLLECTIONS',
  maxTrainingJobs: 'MAX_TRAINING_JOBS',
  maxVectorsPerRequest: 'MAX_VECTORS_PER_REQUEST',
  maxQueriesPerRequest: 'MAX_QUERIES_PER_REQUEST',
  maxDimension: 'MAX_DIMENSION',
  maxK: 'MAX_K',
  maxRerank: 'MAX_RERANK',
  maxMetadataBytes: 'MAX_METADATA_BYTES',
  maxCandidates: 'MAX_CANDIDATES',
  maxExactWork: 'MAX_EXACT_WORK',
  maxOpqDimension: 'MAX_OPQ_DIMENSION',
  maxTrainingSampleBytes: 'MAX_TRAINING_SAMPLE_MB',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(Object.keys(ConfigSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const r = ConfigSchema.safeParse(picked);
  if (!r.success) {
    // Never echo the value: it may be a key.
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = r.data;
  const shared = c.API_KEYS.filter((k) => c.READ_ONLY_API_KEYS.includes(k));
  if (shared.length > 0) throw new ConfigError('invalid configuration:\n  a key is listed in both API_KEYS and READ_ONLY_API_KEYS');
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: c.DATA_DIR,
    workers: c.WORKERS,
    bodyLimit: c.BODY_LIMIT,
    logLevel: c.LOG_LEVEL,
    sqliteSynchronous: c.SQLITE_SYNCHRONOUS,
    apiKeys: c.API_KEYS,
    readOnlyApiKeys: c.READ_ONLY_API_KEYS,
    corsOrigins: c.CORS_ORIGINS,
    requestTimeoutMs: c.REQUEST_TIMEOUT_MS,
    maxQueuedTasks: c.MAX_QUEUED_TASKS,
    queryBatchWindowMicros: c.QUERY_BATCH_WINDOW_US,
    maxEventLoopDelayMs: c.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapBytes: c.MAX_HEAP_MB * 1024 * 1024,
    limits: {
      maxCollections: c.MAX_COLLECTIONS,
      maxTrainingJobs: c.MAX_TRAINING_JOBS,
      maxVectorsPerRequest: c.MAX_VECTORS_PER_REQUEST,
      maxQueriesPerRequest: c.MAX_QUERIES_PER_REQUEST,
      maxDimension: c.MAX_DIMENSION,
      maxK: c.MAX_K,
      maxRerank: c.MAX_RERANK,
      maxMetadataBytes: c.MAX_METADATA_BYTES,
      maxCandidates: c.MAX_CANDIDATES,
      maxExactWork: c.MAX_EXACT_WORK,
      maxOpqDimension: c.MAX_OPQ_DIMENSION,
      maxTrainingSampleBytes: c.MAX_TRAINING_SAMPLE_MB * 1024 * 1024,
    },
  };
}

/** Defaults, for code that runs without the environment (tests, tools). */
export const DEFAULT_LIMITS: Limits = loadConfig({}).limits;
