/**
 * Tasks that wait for a delegate, indexed by selector set in Redis (SPEC §6: a backlog never
 * slows the rest). A waiting task is a delayed BullMQ job (until its deadline) plus one entry in
 * the sorted set of its selector set; it holds no worker slot and nobody looks at it until a
 * delegate that can serve its selector set has a free slot. Then that delegate's owner wakes the
 * oldest such tasks, as many as it has free slots (one Lua step across every set the delegate
 * serves), and promotes their jobs; any replica's worker then places them.
 *
 *   park:   ZADD waiting:<set> <now> <task>   (new set: tell the replicas), then job → delayed
 *   wake:   delegate D has k free slots → the k oldest visible entries over the sets ⊆ D's
 *           selectors are hidden for a lease (score = now + 5 s) → promote their jobs
 *   start:  a stint of a task that was parked removes its entry (tasks.ts)
 *
 * Nothing is lost when a replica dies at any step: an entry is only hidden, never removed, until
 * its task starts again, so a wake that never promoted shows it again after the lease; the index
 * is written before the job is delayed, so a job is never delayed without its entry (a wake that
 * comes first finds the job still active, and leaves the entry for the next one). A promote that
 * finds the job finished removes the entry. A wake-up can also be missed (a task parks while its
 * delegate frees a slot on another replica): a sweep each second wakes one task for each delegate
 * owned here that still has a free slot, which costs nothing while no set they serve holds a task.
 */
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Queue } from 'bullmq'
import { Job } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { DelegateRecord } from './delegate-record.ts'
import type { RedisKeys } from './redis-keys.ts'

/** How long a woken task's entry stays hidden before another wake may take it again. */
const LEASE_MS = 5_000
/** A woken task still parking (its job not delayed yet): tries again after 10, 20 … 320 ms. */
const PROMOTE_RETRIES = 6

/**
 * Hides up to ARGV[1] visible entries (score ≤ ARGV[2]), oldest first, across the sorted sets
 * KEYS[2..] until ARGV[3]; answers {id, set key}… and the sets found empty (dropped from KEYS[1]).
 */
const WAKE = `
local want, now, hideUntil = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local out, emptied = {}, {}
local taken = 0
while taken < want do
  local best, bestScore, bestId = nil, nil, nil
  for i = 2, #KEYS do
    local head = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
    if head[1] and (bestScore == nil or tonumber(head[2]) < bestScore) then best, bestScore, bestId = i, tonumber(head[2]), head[1] end
  end
  if best == nil then break end
  redis.call('ZADD', KEYS[best], hideUntil, bestId)
  out[#out + 1] = bestId
  out[#out + 1] = ARGV[best + 2]
  taken = taken + 1
end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('HDEL', KEYS[1], ARGV[i + 2])
    emptied[#emptied + 1] = ARGV[i + 2]
  end
end
return {out, emptied}`

/** ZADD the task to its set; register the set; answer 1 when the set is new. */
const PARK = `
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[4])`

export interface WaitingRoomOptions {
  redis: Redis
  keys: RedisKeys
  queue: Queue
  log: Logger
  /** tells the other replicas that a selector set has waiting tasks now */
  announce(key: string, selectors: string[]): void
  /** the delegates owned here that have free slots, for the sweep */
  freeLocal(): Iterable<DelegateRecord>
  freeSlots(record: DelegateRecord): number
}

export function selectorSetKey(selectors: readonly string[]): string {
  return selectors.length === 0 ? 'any' : createHash('sha256').update(selectors.join('\n')).digest('hex').slice(0, 20)
}

export class WaitingRoom {
  readonly #o: WaitingRoomOptions
  /** selector sets that (as far as this replica knows) hold waiting tasks: key → selectors */
  readonly #sets = new Map<string, readonly string[]>()
  #sweep: NodeJS.Timeout | null = null
  #refresh: NodeJS.Timeout | null = null

  constructor(opts: WaitingRoomOptions) {
    this.#o = opts
  }

  async start(): Promise<void> {
    await this.#load()
    // a safety net, so one task per delegate: a task that is woken but still cannot run (its free
    // delegates cannot reach its registry) must not churn at the rate of free slots
    this.#sweep = setInterval(() => {
      for (const d of this.#o.freeLocal()) this.wake(d, 1)
    }, 1_000)
    // sets that emptied on another replica's wake-up, and announcements this replica missed
    this.#refresh = setInterval(() => void this.#load().catch((err: unknown) => this.#o.log.warn({ err }, 'waiting sets refresh failed')), 10_000)
    this.#sweep.unref()
    this.#refresh.unref()
  }

  close(): void {
    if (this.#sweep) clearInterval(this.#sweep)
    if (this.#refresh) clearInterval(this.#refresh)
  }

  /** Another replica announced a selector set with waiting tasks. */
  known(key: string, selectors: readonly string[]): void {
    this.#sets.set(key, selectors)
  }

  /**
   * Indexes a task (still active: its job is delayed right after) so that the next free slot for
   * its selectors wakes it. Answers the set's key, which its next stint removes it from.
   */
  async park(taskId: string, selectors: readonly string[], since: number): Promise<string> {
    const key = selectorSetKey(selectors)
    const { redis, keys } = this.#o
    const fresh = await redis.eval(PARK, 2, keys.waitingSets, keys.waiting(key), since, taskId, key, JSON.stringify(selectors))
    if (!this.#sets.has(key)) this.#sets.set(key, selectors)
    if (fresh === 1) this.#o.announce(key, [...selectors])
    return key
  }

  /** A task that was parked starts a stint: its entry has served. */
  leave(taskId: string, setKey: string): void {
    this.#o.redis.zrem(this.#o.keys.waiting(setKey), taskId).catch((err: unknown) => this.#o.log.warn({ err }, 'waiting entry removal failed'))
  }

  /** A delegate owned here has free slots: wake that many (at most `limit`) of the oldest tasks it can serve. */
  wake(d: DelegateRecord, limit = Infinity): void {
    const free = Math.min(limit, this.#o.freeSlots(d))
    if (free <= 0 || this.#sets.size === 0) return
    const servable = [...this.#sets].filter(([, selectors]) => selectors.every((s) => d.selectors.has(s))).map(([key]) => key)
    if (servable.length === 0) return
    const { redis, keys } = this.#o
    const now = Date.now()
    redis
      .eval(WAKE, 1 + servable.length, keys.waitingSets, ...servable.map((k) => keys.waiting(k)), free, now, now + LEASE_MS, ...servable)
      .then(async (answer) => {
        const [woken, emptied] = answer as [string[], string[]]
        for (const key of emptied) this.#sets.delete(key)
        const promotions: Promise<void>[] = []
        for (let i = 0; i < woken.length; i += 2) promotions.push(this.#promote(woken[i]!, woken[i + 1]!))
        await Promise.all(promotions)
      })
      .catch((err: unknown) => this.#o.log.warn({ err, delegate: d.name }, 'waking waiting tasks failed'))
  }

  /** Tasks waiting for a delegate, by selector set (sum over replicas): what to autoscale on. */
  async countsBySelectors(): Promise<Map<string, number>> {
    const { redis, keys } = this.#o
    const sets = await redis.hgetall(keys.waitingSets)
    const entries = Object.entries(sets)
    if (entries.length === 0) return new Map()
    const pipeline = redis.pipeline()
    for (const [key] of entries) pipeline.zcard(keys.waiting(key))
    const counts = (await pipeline.exec()) ?? []
    const out = new Map<string, number>()
    entries.forEach(([, raw], i) => {
      const n = Number(counts[i]?.[1] ?? 0)
      if (n > 0) out.set((JSON.parse(raw) as string[]).join(','), n)
    })
    return out
  }

  async #load(): Promise<void> {
    const sets = await this.#o.redis.hgetall(this.#o.keys.waitingSets)
    this.#sets.clear()
    for (const [key, raw] of Object.entries(sets)) this.#sets.set(key, JSON.parse(raw) as string[])
  }

  async #promote(id: string, setKey: string): Promise<void> {
    const job = new Job(this.#o.queue, 'wake', {}, {}, id)
    for (let attempt = 0; ; attempt++) {
      try {
        await job.promote()
        return
      } catch {
        // Not delayed. Active: it is parking right now (its job is delayed within milliseconds,
        // and may be by now: try again shortly), or its replica died first (the entry shows
        // again after its lease). Waiting: another wake promoted it. Finished or gone: the entry
        // has no task left.
        const state = await this.#o.queue.getJobState(id)
        if (state === 'completed' || state === 'failed' || state === 'unknown') return this.leave(id, setKey)
        if ((state !== 'active' && state !== 'delayed') || attempt === PROMOTE_RETRIES) return
        if (state === 'delayed') continue
        await sleep(10 * 2 ** attempt)
      }
    }
  }
}
