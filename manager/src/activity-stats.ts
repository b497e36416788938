/**
 * Per-minute activity for the console's charts (GET /api/v1/stats/…), kept two hours in Redis:
 * tasks ended by type and outcome with a duration histogram (percentiles are read from it as
 * Prometheus' histogram_quantile does), and the load of each delegate, sampled in memory by the
 * replica that owns it. Tasks are counted in memory and written once a second (a replica that
 * dies loses at most that second of its counts), never awaited by a task. A
 * sample is written only when what a reader would see of the minute changes (its average to two
 * decimals, its peak, capacity or name), so an idle fleet costs one field per delegate and
 * minute, in one command per sampling round, whatever its size (SPEC §6: idle cost grows with
 * what changes).
 */
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { DelegateRecord } from './delegate-record.ts'
import type { RedisKeys } from './redis-keys.ts'
import type { TaskOutcome } from './task-outcome.ts'
import type { TaskData } from './tasks.ts'

const MINUTE_MS = 60_000
const KEEP_S = 2 * 3600
/** How long task counts wait in memory before one write. */
const FLUSH_MS = 1_000
/** Upper bounds (ms) of the duration buckets; the last one is open. */
export const DURATION_BUCKETS_MS = [25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000]

export interface TaskSeries {
  type: string
  outcome: string
  /** Tasks ended in each minute. */
  counts: number[]
  /** Per minute; null where none ended. */
  p50Ms: (number | null)[]
  p95Ms: (number | null)[]
  /** Over the whole window. */
  total: number
  window: { p50Ms: number | null; p90Ms: number | null; p99Ms: number | null }
}

export interface TaskStats {
  /** ISO start of each minute, oldest first. */
  minutes: string[]
  series: TaskSeries[]
}

export interface DelegateLoad {
  id: string
  name: string
  capacity: number
  /** Average and highest running tasks seen per minute; null where it was not connected. */
  avg: (number | null)[]
  max: (number | null)[]
}

export interface DelegateStats {
  minutes: string[]
  /** Delegates seen in the window; `delegates` holds the busiest `limit` of them. */
  total: number
  delegates: DelegateLoad[]
}

function averageOf(sample: { s: number; n: number }): number {
  return Math.round((sample.s / sample.n) * 100) / 100
}

export function bucketOf(ms: number): number {
  const i = DURATION_BUCKETS_MS.findIndex((upper) => ms <= upper)
  return i === -1 ? DURATION_BUCKETS_MS.length : i
}

/** The q-quantile of a bucketed distribution, linear within the bucket (histogram_quantile). */
export function quantile(q: number, buckets: readonly number[]): number | null {
  const total = buckets.reduce((a, b) => a + b, 0)
  if (total === 0) return null
  const rank = q * total
  let seen = 0
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] ?? 0
    if (n > 0 && seen + n >= rank) {
      const lower = i === 0 ? 0 : (DURATION_BUCKETS_MS[i - 1] ?? 0)
      // the open bucket has no upper bound: answer its lower one, as Prometheus does
      const upper = DURATION_BUCKETS_MS[i] ?? lower
      return Math.round(lower + ((upper - lower) * (rank - seen)) / n)
    }
    seen += n
  }
  return DURATION_BUCKETS_MS.at(-1) ?? null
}

/** One delegate's samples in the current minute, as stored; `shown` is what was last written of it. */
interface MinuteLoad {
  s: number
  n: number
  m: number
  c: number
  name: string
  shown: string
}

export class ActivityStats {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #log: Logger
  /** task counts not written yet: minute key → field → count */
  readonly #pending = new Map<string, Map<string, number>>()
  #flushing: NodeJS.Timeout | undefined
  /** the minute being sampled, and the load of each delegate owned here in it */
  #minute = { id: -1, loads: new Map<string, MinuteLoad>() }

  constructor(redis: Redis, keys: RedisKeys, log: Logger) {
    this.#redis = redis
    this.#keys = keys
    this.#log = log
  }

  /** Counted in memory and written once a second, one pipeline for every task that ended meanwhile. */
  recordTask(data: TaskData, outcome: TaskOutcome, now = Date.now()): void {
    const key = this.#keys.taskStats(Math.floor(now / MINUTE_MS))
    const series = `${data.type}|${outcome.status}`
    let fields = this.#pending.get(key)
    if (!fields) this.#pending.set(key, (fields = new Map<string, number>()))
    for (const field of [`${series}|n`, `${series}|b${bucketOf(now - data.createdAt)}`]) fields.set(field, (fields.get(field) ?? 0) + 1)
    this.#flushing ??= setTimeout(() => this.flush(), FLUSH_MS).unref()
  }

  /** Writes what recordTask counted (on its timer, and when the replica stops). */
  flush(): Promise<void> {
    clearTimeout(this.#flushing)
    this.#flushing = undefined
    if (this.#pending.size === 0) return Promise.resolve()
    const pipeline = this.#redis.pipeline()
    for (const [key, fields] of this.#pending) {
      for (const [field, n] of fields) pipeline.hincrby(key, field, n)
      pipeline.expire(key, KEEP_S)
    }
    this.#pending.clear()
    return pipeline.exec().then(
      () => undefined,
      (err: unknown) => this.#log.warn({ err }, 'task statistics write failed'),
    )
  }

  /** One sampling round of the delegates owned here: writes only what a reader would see change. */
  async sampleDelegates(delegates: readonly Pick<DelegateRecord, 'id' | 'name' | 'capacity' | 'active'>[], now = Date.now()): Promise<void> {
    const minute = Math.floor(now / MINUTE_MS)
    if (minute !== this.#minute.id) this.#minute = { id: minute, loads: new Map() }
    const { loads } = this.#minute
    const changed: string[] = []
    for (const d of delegates) {
      let l = loads.get(d.id)
      if (!l) loads.set(d.id, (l = { s: 0, n: 0, m: 0, c: d.capacity, name: d.name, shown: '' }))
      l.s += d.active
      l.n += 1
      l.m = Math.max(l.m, d.active)
      l.c = d.capacity
      l.name = d.name
      const shown = `${averageOf(l)}|${l.m}|${l.c}|${l.name}`
      if (shown === l.shown) continue
      l.shown = shown
      changed.push(d.id, JSON.stringify({ s: l.s, n: l.n, m: l.m, c: l.c, name: l.name }))
    }
    if (changed.length === 0) return
    const key = this.#keys.delegateStats(minute)
    await this.#redis.multi().hset(key, ...changed).expire(key, KEEP_S).exec()
  }

  async tasks(minutes: number, now = Date.now()): Promise<TaskStats> {
    const { starts, hashes } = await this.#window(minutes, now, this.#keys.taskStats)
    const bySeries = new Map<string, { counts: number[]; buckets: number[][] }>()
    hashes.forEach((hash, m) => {
      for (const [field, value] of Object.entries(hash)) {
        const [type, outcome, part] = field.split('|')
        if (!type || !outcome || !part) continue
        const id = `${type}|${outcome}`
        let s = bySeries.get(id)
        if (!s) bySeries.set(id, (s = { counts: starts.map(() => 0), buckets: starts.map(() => Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0)) }))
        if (part === 'n') s.counts[m] = Number(value)
        else if (part.startsWith('b')) s.buckets[m]![Number(part.slice(1))] = Number(value)
      }
    })
    const series: TaskSeries[] = [...bySeries].map(([id, s]) => {
      const [type = '', outcome = ''] = id.split('|')
      const all = s.buckets.reduce((acc, b) => acc.map((n, i) => n + (b[i] ?? 0)), Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0))
      return {
        type,
        outcome,
        counts: s.counts,
        p50Ms: s.buckets.map((b) => quantile(0.5, b)),
        p95Ms: s.buckets.map((b) => quantile(0.95, b)),
        total: s.counts.reduce((a, b) => a + b, 0),
        window: { p50Ms: quantile(0.5, all), p90Ms: quantile(0.9, all), p99Ms: quantile(0.99, all) },
      }
    })
    series.sort((a, b) => a.type.localeCompare(b.type) || a.outcome.localeCompare(b.outcome))
    return { minutes: starts.map((t) => new Date(t).toISOString()), series }
  }

  /** The `limit` delegates busiest at their peak in the window (then by name), and how many there were. */
  async delegates(minutes: number, limit: number, now = Date.now()): Promise<DelegateStats> {
    const { starts, hashes } = await this.#window(minutes, now, this.#keys.delegateStats)
    const byId = new Map<string, DelegateLoad & { peak: number }>()
    hashes.forEach((hash, m) => {
      for (const [id, raw] of Object.entries(hash)) {
        const sample = JSON.parse(raw) as { s: number; n: number; m: number; c: number; name: string }
        let d = byId.get(id)
        if (!d) byId.set(id, (d = { id, name: sample.name, capacity: sample.c, avg: starts.map(() => null), max: starts.map(() => null), peak: 0 }))
        d.name = sample.name
        d.capacity = sample.c
        d.avg[m] = averageOf(sample)
        d.max[m] = sample.m
        d.peak = Math.max(d.peak, sample.m)
      }
    })
    const all = [...byId.values()].sort((a, b) => b.peak - a.peak || a.name.localeCompare(b.name))
    return {
      minutes: starts.map((t) => new Date(t).toISOString()),
      total: all.length,
      delegates: all.slice(0, limit).map(({ peak: _peak, ...d }) => d),
    }
  }

  async #window(minutes: number, now: number, key: (minute: number) => string): Promise<{ starts: number[]; hashes: Record<string, string>[] }> {
    const last = Math.floor(now / MINUTE_MS)
    const ids = Array.from({ length: minutes }, (_, i) => last - minutes + 1 + i)
    const pipeline = this.#redis.pipeline()
    for (const id of ids) pipeline.hgetall(key(id))
    const replies = (await pipeline.exec()) ?? []
    return { starts: ids.map((id) => id * MINUTE_MS), hashes: replies.map(([, v]) => (v ?? {}) as Record<string, string>) }
  }
}
