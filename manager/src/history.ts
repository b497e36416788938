import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { HistoryStore } from './dispatcher.ts'
import type { RedisKeys } from './redis-keys.ts'

/**
 * connector id → the delegate that last succeeded for it (SPEC §4.2). Kept in Redis so that it
 * survives restarts and is shared by replicas; read through a local copy on the hot path.
 */
export class RedisHistory implements HistoryStore {
  readonly #redis: Redis
  readonly #key: string
  readonly #log: Logger
  readonly #local = new Map<string, string>()

  constructor(redis: Redis, keys: RedisKeys, log: Logger) {
    this.#redis = redis
    this.#key = keys.history
    this.#log = log
  }

  async get(connectorId: string): Promise<string | null> {
    const local = this.#local.get(connectorId)
    if (local !== undefined) return local
    const stored = await this.#redis.hget(this.#key, connectorId)
    if (stored !== null) this.#local.set(connectorId, stored)
    return stored
  }

  set(connectorId: string, delegateId: string): void {
    if (this.#local.get(connectorId) === delegateId) return
    this.#local.set(connectorId, delegateId)
    this.#redis.hset(this.#key, connectorId, delegateId).catch((err: unknown) => this.#log.warn({ err }, 'history write failed'))
  }
}
