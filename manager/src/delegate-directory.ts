/**
 * Delegates as Redis remembers them, for `GET /api/v1/delegates` (SPEC §3) and for a replica
 * that starts (or resubscribes) and needs the others' delegates. Written when something changes
 * (connect, full or not, draining, disconnect), never on a timer; the load of each delegate is
 * written by its owner at most once a second while it changes; each replica keeps a liveness key
 * with a TTL, so that an entry whose replica died reads as disconnected.
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { DelegateState } from '../../protocol/src/index.ts'
import type { DelegateRecord } from './delegate-record.ts'
import type { RedisKeys } from './redis-keys.ts'

export interface DelegateView {
  id: string
  name: string
  tags: string[]
  version: string
  connected: boolean
  connectedAt: string | null
  /** owned here: its last heartbeat; elsewhere: when its owner last vouched for it */
  lastHeartbeatAt: string | null
  activeTasks: number
  capacity: number
  draining: boolean
  replica: string
}

interface Stored extends DelegateState {
  connected: boolean
  replica: string
  /** epoch ms of this write */
  at: number
}

/** A replica that has not refreshed its liveness key for this long is gone. */
export const REPLICA_TTL_MS = 15_000
const LIVENESS_EVERY_MS = 5_000
const FORGET_MS = 24 * 3600_000
const IF_OURS = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cjson.decode(cur).replica ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`

export class DelegateDirectory {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #replica: string
  readonly #log: Logger
  /** delegates owned here whose load changed since the last write */
  readonly #dirty = new Map<string, DelegateRecord>()
  readonly #timers: NodeJS.Timeout[] = []

  constructor(redis: Redis, keys: RedisKeys, replica: string, log: Logger) {
    this.#redis = redis
    this.#keys = keys
    this.#replica = replica
    this.#log = log
  }

  async start(): Promise<void> {
    await this.#alive()
    this.#timers.push(
      setInterval(() => void this.#alive().catch((err: unknown) => this.#log.warn({ err }, 'replica liveness write failed')), LIVENESS_EVERY_MS),
      setInterval(() => this.#flushLoads(), 1_000),
    )
    for (const t of this.#timers) t.unref()
  }

  /** Stops writing and removes the liveness key, so that other replicas see this one gone at once. */
  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t)
    this.#flushLoads()
    await this.#redis.del(this.#keys.replicaAlive(this.#replica)).catch(() => undefined)
  }

  up(record: DelegateRecord): void {
    const entry = stored(record, true, this.#replica)
    this.#redis.hset(this.#keys.delegates, record.id, JSON.stringify(entry)).catch((err: unknown) => this.#log.warn({ err }, 'delegate directory write failed'))
    this.#dirty.set(record.id, record)
  }

  /** Written only while the entry is still ours: the delegate may already be on another replica. */
  down(record: DelegateRecord): void {
    const entry = JSON.stringify(stored(record, false, this.#replica))
    this.#dirty.delete(record.id)
    this.#redis
      .eval(IF_OURS, 2, this.#keys.delegates, this.#keys.delegateLoad, record.id, this.#replica, entry)
      .catch((err: unknown) => this.#log.warn({ err }, 'delegate directory write failed'))
  }

  /** The number of tasks on a delegate owned here changed. */
  loadChanged(record: DelegateRecord): void {
    this.#dirty.set(record.id, record)
  }

  /** Which of these replicas are alive. */
  async alive(replicas: readonly string[]): Promise<Set<string>> {
    if (replicas.length === 0) return new Set()
    const values = await this.#redis.mget(...replicas.map((r) => this.#keys.replicaAlive(r)))
    return new Set(replicas.filter((_, i) => values[i] !== null))
  }

  /** Connected delegates of other live replicas: what a replica learns on (re)start. */
  async others(): Promise<{ replica: string; state: DelegateState }[]> {
    const all = (await this.#redis.hvals(this.#keys.delegates)).map((raw) => JSON.parse(raw) as Stored)
    const connected = all.filter((d) => d.connected && d.replica !== this.#replica)
    const alive = await this.alive([...new Set(connected.map((d) => d.replica))])
    return connected.filter((d) => alive.has(d.replica)).map((d) => ({ replica: d.replica, state: stateOf(d) }))
  }

  /** Every delegate seen in the last day; those owned here as this replica knows them now. */
  async list(local: readonly DelegateRecord[]): Promise<DelegateView[]> {
    const [rawAll, loads] = await Promise.all([this.#redis.hvals(this.#keys.delegates), this.#redis.hgetall(this.#keys.delegateLoad)])
    const all = rawAll.map((raw) => JSON.parse(raw) as Stored)
    const replicas = [...new Set(all.map((d) => d.replica))]
    const seen = replicas.length ? await this.#redis.mget(...replicas.map((r) => this.#keys.replicaAlive(r))) : []
    const vouched = new Map(replicas.map((r, i) => [r, seen[i] ? Number(seen[i]) : null]))
    const now = Date.now()
    const byId = new Map(local.map((d) => [d.id, d]))
    const forget = all.filter((d) => !d.connected && now - d.at > FORGET_MS).map((d) => d.id)
    if (forget.length) await this.#redis.hdel(this.#keys.delegates, ...forget)
    const views = all
      .filter((d) => !(!d.connected && now - d.at > FORGET_MS))
      .map((d): DelegateView => {
        const mine = byId.get(d.id)
        if (mine) return viewOf(mine, this.#replica)
        const at = vouched.get(d.replica) ?? null
        const connected = d.connected && at !== null
        return {
          id: d.id,
          name: d.name,
          tags: d.tags,
          version: d.version,
          connected,
          connectedAt: connected ? new Date(d.connectedAt).toISOString() : null,
          lastHeartbeatAt: new Date(connected ? at : d.at).toISOString(),
          activeTasks: connected ? Number(loads[d.id] ?? 0) : 0,
          capacity: d.capacity,
          draining: d.draining,
          replica: d.replica,
        }
      })
    // owned here but not written yet (a write in flight)
    for (const d of local) if (!views.some((v) => v.id === d.id)) views.push(viewOf(d, this.#replica))
    return views.sort((a, b) => a.name.localeCompare(b.name))
  }

  async #alive(): Promise<void> {
    await this.#redis.set(this.#keys.replicaAlive(this.#replica), String(Date.now()), 'PX', REPLICA_TTL_MS)
  }

  #flushLoads(): void {
    if (this.#dirty.size === 0) return
    const args = [...this.#dirty.values()].flatMap((d) => [d.id, String(d.active)])
    this.#dirty.clear()
    this.#redis.hset(this.#keys.delegateLoad, ...args).catch((err: unknown) => this.#log.warn({ err }, 'delegate load write failed'))
  }
}

/** What an owner tells other replicas about one of its delegates. */
export function stateOf(d: Pick<DelegateRecord, 'id' | 'name' | 'tags' | 'version' | 'capacity' | 'draining' | 'connectedAt' | 'rev'> & { full: boolean }): DelegateState {
  return { id: d.id, name: d.name, tags: d.tags, version: d.version, capacity: d.capacity, draining: d.draining, full: d.full, connectedAt: d.connectedAt, rev: d.rev }
}

export function localState(d: DelegateRecord): DelegateState {
  return stateOf({ ...d, full: d.active >= d.capacity })
}

function stored(d: DelegateRecord, connected: boolean, replica: string): Stored {
  return { ...localState(d), connected, replica, at: Date.now() }
}

function viewOf(d: DelegateRecord, replica: string): DelegateView {
  return {
    id: d.id,
    name: d.name,
    tags: d.tags,
    version: d.version,
    connected: true,
    connectedAt: new Date(d.connectedAt).toISOString(),
    lastHeartbeatAt: new Date(d.lastHeartbeatAt).toISOString(),
    activeTasks: d.active,
    capacity: d.capacity,
    draining: d.draining,
    replica,
  }
}
