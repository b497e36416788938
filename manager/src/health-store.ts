/**
 * Connector health (SPEC §8): the last 100 checks of each connector and its state, in Redis.
 * A check is a validation of a connector whose health check is on, scheduled or run by hand.
 * Recording one is a single Lua step that also decides the alerts it fires and puts them in the
 * alert outbox, so that each is decided once across replicas and survives a replica that dies
 * right after deciding (alerts.ts forwards the outbox).
 *
 *   healthy ──failed check──▶ failing ──2nd failed check in a row──▶ connector.failing
 *   failing (alerted) ──succeeded check──▶ healthy, connector.recovered
 */
import type { Redis } from 'ioredis'
import type { AlertEvent, checkEventCandidates } from './alert-events.ts'
import type { HealthCheck } from './health-check.ts'
import type { RedisKeys } from './redis-keys.ts'

export const HEALTH_HISTORY = 100
/** Failed checks in a row before connector.failing. */
export const FAILURES_TO_ALERT = 2

export type HealthState = 'healthy' | 'failing' | 'unknown'

export interface ConnectorHealth {
  state: HealthState
  /** When the current state began (the first check of the streak). */
  since?: string
  /** Newest first. */
  checks: HealthCheck[]
}

interface StoredState {
  state: 'healthy' | 'failing'
  since: string
  failures: number
  alerted: boolean
  failingSince?: string
  certAlerted?: string
  lastDurationMs: number
}

export interface StateSummary {
  state: 'healthy' | 'failing'
  since: string
  lastDurationMs: number
}

// KEYS: history, state hash, seen marker, outbox
// ARGV: connector id, check JSON, '1' when it succeeded, check time, '1' when alerts are on,
//       failing event, recovered event, certificate event or '', certificate notAfter or '',
//       duration ms, failures to alert, history length
const RECORD = `
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', 86400) then return false end
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[12]) - 1)
local raw = redis.call('HGET', KEYS[2], ARGV[1])
local st = raw and cjson.decode(raw) or { state = 'unknown', failures = 0, alerted = false }
local fired = {}
local function withStreak(json)
  local e = cjson.decode(json)
  e.failingSince = st.failingSince
  e.failedChecks = st.failures
  return cjson.encode(e)
end
if ARGV[3] == '1' then
  if st.state ~= 'healthy' then st.since = ARGV[4] end
  if st.alerted then fired[#fired + 1] = withStreak(ARGV[7]) end
  st.state = 'healthy'
  st.failures = 0
  st.alerted = false
  st.failingSince = nil
  if ARGV[8] ~= '' and st.certAlerted ~= ARGV[9] then
    fired[#fired + 1] = ARGV[8]
    st.certAlerted = ARGV[9]
  end
else
  if st.state ~= 'failing' then
    st.since = ARGV[4]
    st.failingSince = ARGV[4]
  end
  st.state = 'failing'
  st.failures = st.failures + 1
  if st.failures >= tonumber(ARGV[11]) and not st.alerted then
    fired[#fired + 1] = withStreak(ARGV[6])
    st.alerted = true
  end
end
st.lastDurationMs = tonumber(ARGV[10])
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(st))
if ARGV[5] == '1' then
  for _, e in ipairs(fired) do redis.call('RPUSH', KEYS[4], e) end
end
return fired`

export class HealthStore {
  readonly #redis: Redis
  readonly #keys: RedisKeys

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis
    this.#keys = keys
  }

  /**
   * Records one check (once per task, however often it is reported) and returns the alerts it
   * fired; with `alertsOn` they are in the outbox already.
   */
  async record(connectorId: string, check: HealthCheck, candidates: ReturnType<typeof checkEventCandidates>, alertsOn: boolean): Promise<AlertEvent[]> {
    const k = this.#keys
    const fired = (await this.#redis.eval(
      RECORD,
      4,
      k.healthChecks(connectorId),
      k.healthState,
      k.healthSeen(check.task),
      k.alertOutbox,
      connectorId,
      JSON.stringify(check),
      check.outcome === 'succeeded' ? '1' : '0',
      check.at,
      alertsOn ? '1' : '0',
      JSON.stringify(candidates.failing),
      JSON.stringify(candidates.recovered),
      candidates.certificate ? JSON.stringify(candidates.certificate) : '',
      candidates.certificate?.certificate.notAfter ?? '',
      String(check.durationMs),
      String(FAILURES_TO_ALERT),
      String(HEALTH_HISTORY),
    )) as string[] | null
    return (fired ?? []).map((raw) => JSON.parse(raw) as AlertEvent)
  }

  async get(connectorId: string): Promise<ConnectorHealth> {
    const [rows, raw] = await Promise.all([
      this.#redis.lrange(this.#keys.healthChecks(connectorId), 0, HEALTH_HISTORY - 1),
      this.#redis.hget(this.#keys.healthState, connectorId),
    ])
    const checks = rows.map((r) => JSON.parse(r) as HealthCheck)
    if (raw === null || checks.length === 0) return { state: 'unknown', checks }
    const st = JSON.parse(raw) as StoredState
    return { state: st.state, since: st.since, checks }
  }

  /** Every connector's current state, for /metrics. */
  async states(): Promise<Map<string, StateSummary>> {
    const all = await this.#redis.hgetall(this.#keys.healthState)
    return new Map(
      Object.entries(all).map(([id, raw]) => {
        const st = JSON.parse(raw) as StoredState
        return [id, { state: st.state, since: st.since, lastDurationMs: st.lastDurationMs }]
      }),
    )
  }

  async forget(connectorId: string): Promise<void> {
    await this.#redis.multi().del(this.#keys.healthChecks(connectorId)).hdel(this.#keys.healthState, connectorId).exec()
  }
}
