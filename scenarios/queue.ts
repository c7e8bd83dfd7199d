/**
 * What the producer (`qloom scenario --queue`, queue-producer.ts) and the workers (`qloom worker`,
 * queue-worker.ts) share: the Redis URL and its credentials, the queue's name, the job options,
 * and errors in words.
 *
 * One BullMQ queue per code version (`points.<codeVersion>`): a worker only ever sees points its
 * own code would hash the same way, so a worker of another version cannot store numbers under a
 * producer's config hash; the producer sees, through the worker registry (`qloom:workers:*`, keys
 * that expire unless renewed), that the connected workers run another version and says so.
 */
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { ResourceError, UsageError } from '../errors/index.js';
import { codeVersion } from './points.js';
import type { PointMetrics } from './runners.js';
import type { PointConfig } from './scenario.js';

/** BullMQ's key prefix: every key qloom makes starts with `qloom:` */
export const KEY_PREFIX = 'qloom';
export const WORKERS_KEY = `${KEY_PREFIX}:workers:`;
/** the environment variable read for the password when the URL carries none */
export const PASSWORD_ENV = 'QLOOM_REDIS_PASSWORD';

export interface QueueTarget {
  /** the URL without its password, for messages */
  readonly display: string;
  readonly options: RedisOptions;
}

/**
 * `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS); the password, when the URL
 * has none, from QLOOM_REDIS_PASSWORD. `where` names the flag in errors.
 */
export function parseQueueUrl(text: string, env: NodeJS.ProcessEnv = process.env, where = '--queue'): QueueTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`${where} '${text}': not a URL (expected redis://host:port[/db] or rediss://…)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`${where} '${text}': the scheme must be redis:// or rediss:// (TLS), not ${u.protocol}//`);
  if (!u.hostname) throw new UsageError(`${where} '${text}': no host`);
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  if (!Number.isInteger(db) || db < 0) throw new UsageError(`${where} '${text}': the path must be a database number (/0, /1, …), not ${u.pathname}`);
  const password = u.password ? decodeURIComponent(u.password) : env[PASSWORD_ENV] || undefined;
  const options: RedisOptions = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(password ? { password } : {}),
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname } } : {}),
  };
  const display = `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${db ? `/${db}` : ''}`;
  return { display, options };
}

/** The queue the points of this code version go to (BullMQ names may not hold ':'). */
export function queueName(version: string = codeVersion()): string {
  return `points.${version.replace(/[^\w.@-]/g, '_')}`;
}

/** What a job carries: the point's config (its id is the config hash) and the producer's code version. */
export interface JobData {
  readonly config: PointConfig;
  /** the point's index in the producer's scenario (for messages) */
  readonly index: number;
  readonly codeVersion: string;
}

export type JobResult = PointMetrics;

/**
 * A point that failed in the runner travels as this JSON in the job's failedReason, so the
 * producer re-throws it with its kind; anything else (a stall limit, a lost lock) is the queue's.
 */
export interface PointFailure {
  readonly qloomPointError: { readonly name: string; readonly kind: string | null; readonly message: string };
}

export function readPointFailure(reason: string | undefined): PointFailure['qloomPointError'] | undefined {
  if (!reason?.startsWith('{')) return undefined;
  try {
    return (JSON.parse(reason) as Partial<PointFailure>).qloomPointError;
  } catch {
    return undefined;
  }
}

/** An ioredis error in words (what failed, and what to check). */
export function redisProblem(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  if (err.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): is redis-server running there, on that port?';
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `host not found (${err.code})`;
  if (err.code === 'ETIMEDOUT') return 'connection timed out (ETIMEDOUT): a firewall, or the wrong host?';
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) return `the password was refused (${msg.split('\n')[0]}): set it in the URL (redis://:password@host) or in ${PASSWORD_ENV}`;
  if (/NOAUTH/i.test(msg)) return `this Redis needs a password: put it in the URL (redis://:password@host) or in ${PASSWORD_ENV}`;
  return msg.split('\n')[0];
}

/**
 * Connects once, checks the server answers (and is new enough for BullMQ: Redis ≥ 5), and
 * disconnects: a wrong address or password fails here, in words, before any work.
 */
export async function probeRedis(target: QueueTarget, timeoutMs = 5000): Promise<void> {
  const client = new Redis({ ...target.options, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: timeoutMs, retryStrategy: () => null });
  // connect() rejects with "Connection is closed"; the cause (ECONNREFUSED, WRONGPASS) comes as an event
  let cause: unknown;
  client.on('error', (e: unknown) => (cause ??= e));
  try {
    await client.connect();
    const info = await client.info('server');
    const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
    if (major < 5) throw new ResourceError(`Redis at ${target.display} is version ${major}: BullMQ needs Redis 5 or newer`);
  } catch (e) {
    if (e instanceof ResourceError) throw e;
    throw new ResourceError(`cannot use Redis at ${target.display}: ${redisProblem(cause ?? e)}`);
  } finally {
    client.disconnect();
  }
}

/** A worker's entry in the registry: who it is and which code it runs. */
export interface WorkerInfo {
  readonly host: string;
  readonly pid: number;
  readonly codeVersion: string;
  readonly concurrency: number;
}

export function workerKey(): string {
  return `${WORKERS_KEY}${hostname()}:${process.pid}`;
}

/** Every key matching `pattern` (SCAN: the server is never blocked the way KEYS blocks it). */
async function scanKeys(client: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** The registered workers (each key expires unless its worker renews it). */
export async function listWorkers(client: Redis): Promise<WorkerInfo[]> {
  const keys = await scanKeys(client, `${WORKERS_KEY}*`);
  if (keys.length === 0) return [];
  const values = await client.mget(keys);
  return values.flatMap((v) => {
    try {
      return v ? [JSON.parse(v) as WorkerInfo] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Queues of other code versions that hold waiting points: what a worker names when it has nothing
 * to do while producers of another version wait (`[queue name, waiting points]`).
 */
export async function otherVersionsWaiting(client: Redis, own: string): Promise<[string, number][]> {
  const keys = await scanKeys(client, `${KEY_PREFIX}:points.*:wait`);
  const out: [string, number][] = [];
  for (const k of keys.sort()) {
    const name = k.slice(KEY_PREFIX.length + 1, -':wait'.length);
    if (name === own) continue;
    const n = await client.llen(k);
    if (n > 0) out.push([name, n]);
  }
  return out;
}
