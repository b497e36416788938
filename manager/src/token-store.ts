import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'
import { NotFoundError } from './errors.ts'
import type { RedisKeys } from './redis-keys.ts'

export interface DelegateToken {
  id: string
  name: string
  /** the one delegate name this token may connect as; null: any name (SPEC §7, README security model) */
  delegateName: string | null
  createdAt: string
}

/** What a live token allows, as the WebSocket upgrade needs it. */
export interface VerifiedToken {
  id: string
  delegateName: string | null
}
interface StoredToken extends DelegateToken {
  hash: string
}

const PREFIX = 'rdt_'

/**
 * Delegate tokens: 32 random bytes shown once, stored as sha256 (a token has full entropy, so a
 * fast hash is the right tool; a slow KDF protects low-entropy passwords, not these).
 */
export class TokenStore {
  readonly #redis: Redis
  readonly #keys: RedisKeys

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis
    this.#keys = keys
  }

  async create(name: string, delegateName: string | null = null): Promise<DelegateToken & { token: string }> {
    const token = PREFIX + randomBytes(32).toString('base64url')
    const bound = delegateName?.trim() || null
    const stored: StoredToken = { id: randomUUID(), name, delegateName: bound, createdAt: new Date().toISOString(), hash: digest(token) }
    await this.#redis
      .multi()
      .hset(this.#keys.tokens, stored.id, JSON.stringify(stored))
      .hset(this.#keys.tokenByHash, stored.hash, stored.id)
      .exec()
    return { id: stored.id, name, delegateName: bound, createdAt: stored.createdAt, token }
  }

  async list(): Promise<DelegateToken[]> {
    const all = await this.#redis.hvals(this.#keys.tokens)
    return all
      .map((raw) => {
        const { id, name, delegateName, createdAt } = JSON.parse(raw) as StoredToken
        return { id, name, delegateName: delegateName ?? null, createdAt }
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  /** The token's id and binding when `presented` is a live token, else null. */
  async verify(presented: string): Promise<VerifiedToken | null> {
    if (!presented.startsWith(PREFIX) || presented.length > 100) return null
    const hash = digest(presented)
    // one round trip per connection: a reconnect storm of thousands of delegates pays it each
    const found = (await this.#redis.eval(VERIFY, 2, this.#keys.tokenByHash, this.#keys.tokens, hash)) as [string, string] | null
    if (found === null) return null
    const [id, raw] = found
    // The hash lookup already matched; compare again in constant time so that the answer never
    // depends on how much of the stored hash matched.
    const record = JSON.parse(raw) as StoredToken
    const stored = Buffer.from(record.hash, 'hex')
    return timingSafeEqual(stored, Buffer.from(hash, 'hex')) ? { id, delegateName: record.delegateName ?? null } : null
  }

  async exists(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set()
    const found = await this.#redis.hmget(this.#keys.tokens, ...ids)
    return new Set(ids.filter((_, i) => found[i] !== null))
  }

  async revoke(id: string): Promise<void> {
    const raw = await this.#redis.hget(this.#keys.tokens, id)
    if (raw === null) throw new NotFoundError('delegate token', id)
    const { hash } = JSON.parse(raw) as StoredToken
    await this.#redis.multi().hdel(this.#keys.tokens, id).hdel(this.#keys.tokenByHash, hash).exec()
  }
}

// KEYS: token-hashes, tokens. ARGV: the presented token's hash. → {id, stored record} or nil
const VERIFY = `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return nil end
local raw = redis.call('HGET', KEYS[2], id)
if not raw then return nil end
return { id, raw }`

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
