/**
 * Every delegate any replica has seen, in Redis, for `GET /api/v1/delegates` (SPEC §3). Each
 * replica writes its own connected delegates every few seconds; an entry whose replica stopped
 * writing reads as disconnected.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { DelegateLink } from './dispatcher.ts'
import type { RedisKeys } from './redis-keys.ts'

export interface DelegateView {
  id: string
  name: string
  tags: string[]
  version: string
  connected: boolean
  connectedAt: string | null
  lastHeartbeatAt: string | null
  activeTasks: number
  capacity: number
  draining: boolean
  replica: string
}

interface Stored extends DelegateView {
  /** epoch ms of the owning replica's last write */
  seenAt: number
}

const STALE_MS = 15_000
const IF_OURS = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cjson.decode(cur).replica ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`
const FORGET_MS = 24 * 3600_000

export class DelegateDirectory {
  readonly #redis: Redis
  readonly #key: string
  readonly #replica: string
  readonly #log: Logger

  constructor(redis: Redis, keys: RedisKeys, replica: string, log: Logger) {
    this.#redis = redis
    this.#key = keys.delegates
    this.#replica = replica
    this.#log = log
  }

  connected(link: DelegateLink): void {
    this.#write([this.#entry(link, true)])
  }

  /** Written only while the entry is still ours: the delegate may already be on another replica. */
  disconnected(link: DelegateLink): void {
    const entry = JSON.stringify(this.#entry(link, false))
    this.#redis
      .eval(IF_OURS, 1, this.#key, link.id, this.#replica, entry)
      .catch((err: unknown) => this.#log.warn({ err }, 'delegate directory write failed'))
  }

  /** Connected delegates whose replica wrote recently: what other replicas may dispatch to. */
  async live(): Promise<DelegateView[]> {
    const now = Date.now()
    return (await this.#redis.hvals(this.#key))
      .map((raw) => JSON.parse(raw) as Stored)
      .filter((d) => d.connected && now - d.seenAt <= STALE_MS)
  }

  flush(links: Iterable<DelegateLink>): void {
    const entries = [...links].map((l) => this.#entry(l, true))
    if (entries.length > 0) this.#write(entries)
  }

  async list(): Promise<DelegateView[]> {
    const now = Date.now()
    const all = (await this.#redis.hvals(this.#key)).map((raw) => JSON.parse(raw) as Stored)
    const forget = all.filter((d) => now - d.seenAt > FORGET_MS).map((d) => d.id)
    if (forget.length) await this.#redis.hdel(this.#key, ...forget)
    return all
      .filter((d) => now - d.seenAt <= FORGET_MS)
      .map(({ seenAt, ...view }) => (view.connected && now - seenAt > STALE_MS ? { ...view, connected: false, activeTasks: 0 } : view))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  #entry(link: DelegateLink, connected: boolean): Stored {
    return {
      id: link.id,
      name: link.name,
      tags: link.tags,
      version: link.version,
      connected,
      connectedAt: connected ? new Date(link.connectedAt).toISOString() : null,
      lastHeartbeatAt: new Date(link.lastHeartbeatAt).toISOString(),
      activeTasks: connected ? link.attempts.size : 0,
      capacity: link.capacity,
      draining: link.draining,
      replica: this.#replica,
      seenAt: Date.now(),
    }
  }

  #write(entries: Stored[]): void {
    const args = entries.flatMap((e) => [e.id, JSON.stringify(e)])
    this.#redis.hset(this.#key, ...args).catch((err: unknown) => this.#log.warn({ err }, 'delegate directory write failed'))
  }
}
