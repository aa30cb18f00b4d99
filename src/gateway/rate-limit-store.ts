/**
 * Rate-limit counters in Redis, shared by every gateway that uses the same
 * Redis and key prefix (`REDIS_URL`, `RATE_LIMIT_REDIS_PREFIX`), so N gateways
 * allow a key `RATE_LIMIT_PER_MINUTE` in all, not N times that.
 *
 * Redis is not allowed to take the gateway down: commands fail at once while
 * it is unreachable (no offline queue, a short command timeout), and the
 * limiter then lets requests through unlimited (`passOnStoreError`, see
 * middleware.ts) with a warning in the log, until Redis is back.
 */
import type { ClientRateLimitInfo, IncrementResponse, Options } from 'express-rate-limit';
import { Redis } from 'ioredis';
import { RedisStore } from 'rate-limit-redis';
import type { Config } from '../config';
import type { Logger } from '../logger';

/** Longest a rate-limit command may take before the request goes through unlimited. */
const COMMAND_TIMEOUT_MS = 500;

/**
 * A client for the rate limiter, not yet connected: call `connect()` (a
 * rejected connect is retried in the background). Logs once when Redis goes
 * away and once when it is back.
 */
export function createRateLimitRedis(redis: Config['redis'], logger: Logger): Redis {
  if (!redis.url) throw new Error('REDIS_URL is not set');
  const client = new Redis(redis.url, {
    ...(redis.password ? { password: redis.password } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 250, 5_000),
  });
  let down = false;
  const wentDown = (reason: string) => {
    if (down) return;
    down = true;
    logger.warn({ reason }, 'Redis is unreachable: rate limits are not enforced until it is back');
  };
  client.on('error', (err: Error) => wentDown(err.message));
  // A lost connection need not raise an error (a server shut down cleanly); 'reconnecting' is not
  // emitted after our own disconnect().
  client.on('reconnecting', () => wentDown('the connection was lost'));
  client.on('ready', () => {
    if (down) logger.info('Redis is reachable again: rate limits are enforced');
    down = false;
  });
  return client;
}

/**
 * `rate-limit-redis`'s store, which loads its Lua scripts once at start-up
 * and would keep a failed load forever: this one loads them again after a
 * failure, so counting resumes when Redis comes back.
 */
class RecoveringRedisStore extends RedisStore {
  #stale = false;

  override async init(options: Options): Promise<void> {
    this.windowMs = options.windowMs;
    this.#load();
  }

  override async increment(key: string): Promise<IncrementResponse> {
    if (this.#stale) this.#load();
    try {
      return await super.increment(key);
    } catch (err) {
      this.#stale = true;
      throw err;
    }
  }

  override async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    if (this.#stale) this.#load();
    return super.get(key);
  }

  #load(): void {
    this.#stale = false;
    const markStale = () => {
      this.#stale = true;
    };
    this.incrementScriptSha = this.loadIncrementScript();
    this.getScriptSha = this.loadGetScript();
    // Awaited by the next command; a failure here only marks the scripts for loading again.
    this.incrementScriptSha.catch(markStale);
    this.getScriptSha.catch(markStale);
  }
}

/** A store for `express-rate-limit` keeping its counters in Redis under `prefix`. */
export function redisRateLimitStore(client: Redis, prefix: string): RedisStore {
  return new RecoveringRedisStore({
    prefix,
    sendCommand: (command: string, ...args: string[]) => client.call(command, args) as Promise<string | number>,
  });
}
