import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { HistoryStore } from './dispatcher.ts'
import type { RedisKeys } from './redis-keys.ts'

/** How long this replica trusts its copy before reading what other replicas recorded. */
const FRESH_MS = 5_000

/**
 * connector id → the delegate that last succeeded for it (SPEC §4.2). Kept in Redis so that it
 * survives restarts and is shared by replicas; read through a short-lived local copy on the hot
 * path.
 */
export class RedisHistory implements HistoryStore {
  readonly #redis: Redis
  readonly #key: string
  readonly #log: Logger
  readonly #local = new Map<string, { delegateId: string | null; at: number }>()

  constructor(redis: Redis, keys: RedisKeys, log: Logger) {
    this.#redis = redis
    this.#key = keys.history
    this.#log = log
  }

  async get(connectorId: string): Promise<string | null> {
    const local = this.#local.get(connectorId)
    if (local && Date.now() - local.at < FRESH_MS) return local.delegateId
    const delegateId = await this.#redis.hget(this.#key, connectorId)
    this.#local.set(connectorId, { delegateId, at: Date.now() })
    return delegateId
  }

  set(connectorId: string, delegateId: string): void {
    const local = this.#local.get(connectorId)
    this.#local.set(connectorId, { delegateId, at: Date.now() })
    if (local?.delegateId === delegateId) return
    this.#redis.hset(this.#key, connectorId, delegateId).catch((err: unknown) => this.#log.warn({ err }, 'history write failed'))
  }
}
