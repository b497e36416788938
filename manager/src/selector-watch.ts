/**
 * Selector sets (SPEC §8): each set of delegate selectors that some connector needs, and the
 * connected delegates able to serve it (connected, not draining, tags and name ⊇ the set, as in
 * SPEC §4). `rd_selector_set_delegates` shows the counts; each watch tick (one BullMQ job across
 * replicas) moves each set's level (many, one, none) in one atomic Lua step, which puts
 * `selectors.last-delegate` (many → one) and `selectors.no-delegate` (→ none) in the alert
 * outbox. A level must be seen on two ticks in a row before it counts, so that a delegate that
 * reconnects to another replica raises nothing.
 */
import type { Redis } from 'ioredis'
import { selectorsEvent, type AlertEvent } from './alert-events.ts'
import type { Connector, ConnectorStore } from './connector-store.ts'
import type { DelegateView } from './delegate-directory.ts'
import type { RedisKeys } from './redis-keys.ts'

export type Level = 'many' | 'one' | 'none'
/** Ticks in a row a new level must be seen before it counts. */
export const LEVEL_TICKS = 2

export interface SelectorSet {
  /** Sorted, lower-cased; [] means any delegate. */
  selectors: string[]
  connectors: { id: string; name: string }[]
}

/** The selector sets connectors use, keyed by `selectors.join(',')` (as rd_tasks_waiting_for_delegate). */
export function selectorSets(connectors: readonly Connector[]): Map<string, SelectorSet> {
  const sets = new Map<string, SelectorSet>()
  for (const c of connectors) {
    const key = c.delegateSelectors.join(',')
    let set = sets.get(key)
    if (!set) sets.set(key, (set = { selectors: c.delegateSelectors, connectors: [] }))
    set.connectors.push({ id: c.id, name: c.name })
  }
  return sets
}

/** What the watch needs to know of a delegate. */
export type WatchedDelegate = Pick<DelegateView, 'id' | 'name' | 'tags' | 'connected' | 'draining'>

/** Delegates that could take a task needing `selectors` now or once a slot frees up. */
export function servingDelegates<D extends WatchedDelegate>(selectors: readonly string[], delegates: readonly D[]): D[] {
  return delegates.filter((d) => {
    if (!d.connected || d.draining) return false
    const offered = new Set([...d.tags, d.name].map((t) => t.trim().toLowerCase()))
    return selectors.every((s) => offered.has(s))
  })
}

export function levelOf(count: number): Level {
  return count === 0 ? 'none' : count === 1 ? 'one' : 'many'
}

// KEYS: levels hash, outbox. ARGV: set key, observed level, last-delegate event, no-delegate
// event, '1' when alerts are on, ticks in a row. Returns the event fired, or false.
const LEVEL = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local st = raw and cjson.decode(raw) or { level = 'new', seen = 0 }
local observed = ARGV[2]
local fired = false
if observed == st.level then
  st.candidate = nil
  st.seen = 0
elseif st.level == 'new' and observed ~= 'none' then
  st.level = observed
else
  if st.candidate == observed then st.seen = st.seen + 1 else st.candidate = observed; st.seen = 1 end
  if st.seen >= tonumber(ARGV[6]) then
    local before = st.level
    st.level = observed
    st.candidate = nil
    st.seen = 0
    if observed == 'none' then fired = ARGV[4]
    elseif observed == 'one' and before == 'many' then fired = ARGV[3] end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(st))
if fired and ARGV[5] == '1' then redis.call('RPUSH', KEYS[2], fired) end
return fired`

export class SelectorWatch {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #connectors: ConnectorStore
  readonly #delegates: () => Promise<readonly WatchedDelegate[]>

  constructor(o: { redis: Redis; keys: RedisKeys; connectors: ConnectorStore; delegates: () => Promise<readonly WatchedDelegate[]> }) {
    this.#redis = o.redis
    this.#keys = o.keys
    this.#connectors = o.connectors
    this.#delegates = o.delegates
  }

  /** Each used selector set with the delegates able to serve it. */
  async current(): Promise<{ key: string; set: SelectorSet; serving: WatchedDelegate[] }[]> {
    const [connectors, delegates] = await Promise.all([this.#connectors.list(), this.#delegates()])
    return [...selectorSets(connectors)].map(([key, set]) => ({ key, set, serving: servingDelegates(set.selectors, delegates) }))
  }

  /** One watch tick: the events it fired (already in the outbox when alerts are on). */
  async tick(tick: number, alertsOn: boolean): Promise<AlertEvent[]> {
    const sets = await this.current()
    const fired: AlertEvent[] = []
    for (const { key, set, serving } of sets) {
      const refs = serving.map((d) => ({ id: d.id, name: d.name }))
      const last = selectorsEvent('selectors.last-delegate', set.selectors, refs, set.connectors, tick)
      const none = selectorsEvent('selectors.no-delegate', set.selectors, [], set.connectors, tick)
      const raw = (await this.#redis.eval(LEVEL, 2, this.#keys.selectorLevels, this.#keys.alertOutbox, key, levelOf(serving.length), JSON.stringify(last), JSON.stringify(none), alertsOn ? '1' : '0', String(LEVEL_TICKS))) as string | null
      if (raw) fired.push(JSON.parse(raw) as AlertEvent)
    }
    // sets no connector uses any more start afresh if one does again
    const used = new Set(sets.map((s) => s.key))
    const stale = (await this.#redis.hkeys(this.#keys.selectorLevels)).filter((k) => !used.has(k))
    if (stale.length) await this.#redis.hdel(this.#keys.selectorLevels, ...stale)
    return fired
  }
}
