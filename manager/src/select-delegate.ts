/**
 * Choosing one delegate for one task (SPEC §4). Pure: the dispatcher passes in what it knows and
 * gets back a decision plus the lines to write into the task's selection log.
 *
 *   eligible  = connected ∧ heartbeat fresh ∧ not draining ∧ selectors ⊆ tags ∪ {name}
 *               ∧ active < capacity ∧ not marked unable to reach this registry
 *   pick      = the history delegate when eligible, else the eligible delegate assigned least
 *               recently (round robin that stays fair while delegates come and go)
 */

export interface Candidate {
  id: string
  name: string
  /** tags and name, trimmed and lower-cased */
  selectors: ReadonlySet<string>
  capacity: number
  /** tasks in flight on it (owned here), or this replica's hand-overs to it (another replica owns it) */
  active: number
  lastHeartbeatAt: number
  draining: boolean
  /** epoch ms of the last assignment, 0 for never */
  lastAssignedAt: number
  /** its socket is on this replica; else its owner vouches for liveness and for `full` */
  local: boolean
  /** another replica owns it and says it has no free slot */
  full: boolean
  /** the owner refused a hand-over at this rev: no free slot until `rev` is newer */
  refusedRev: number
  rev: number
}

/** No free slot, as far as this replica may know (never freer than the owner said). */
export function noFreeSlot(c: Candidate): boolean {
  return c.active >= c.capacity || (!c.local && (c.full || c.refusedRev >= c.rev))
}

export interface UnreachableMark {
  code: string
  message: string
  until: number
}

export interface SelectionInput {
  selectors: readonly string[]
  /** the delegates to consider (the dispatcher passes those matching the selectors) */
  candidates: Iterable<Candidate>
  /** every connected delegate, for the log; defaults to the candidates */
  connected?: number
  now: number
  heartbeatTimeoutMs: number
  /** delegate id → mark, for this task's registry host */
  unreachable: ReadonlyMap<string, UnreachableMark>
  /** the delegate that last succeeded for this connector */
  historyDelegateId: string | null
}

export type Selection =
  | { kind: 'picked'; delegate: Candidate; via: 'history' | 'round-robin'; log: string[] }
  /** Nobody can take it now; someone may later. `reason` is stable while nothing changes. */
  | { kind: 'wait'; reason: string; log: string[] }
  /** Every delegate that matches the selectors is marked unable to reach the registry. */
  | { kind: 'unreachable'; failures: { delegate: string; code: string; message: string }[]; log: string[] }

const SHOW = 8

export function selectDelegate(input: SelectionInput): Selection {
  const { selectors, now } = input
  const matching: Candidate[] = []
  const noMatch: string[] = []
  const stale: string[] = []
  const draining: string[] = []
  const busy: string[] = []
  const unreachable: { c: Candidate; mark: UnreachableMark }[] = []
  const eligible: Candidate[] = []
  let seen = 0

  for (const c of input.candidates) {
    seen++
    if (!selectors.every((s) => c.selectors.has(s))) {
      noMatch.push(c.name)
      continue
    }
    matching.push(c)
    if (c.local && now - c.lastHeartbeatAt > input.heartbeatTimeoutMs) stale.push(c.name)
    else if (c.draining) draining.push(c.name)
    else {
      const mark = input.unreachable.get(c.id)
      if (mark && mark.until > now) unreachable.push({ c, mark })
      else if (noFreeSlot(c)) busy.push(c.local ? `${c.name} (${c.active}/${c.capacity})` : `${c.name} (full on its replica)`)
      else eligible.push(c)
    }
  }

  const connected = input.connected ?? seen
  const log = [
    `candidates: ${connected} connected, ${matching.length} with ${selectors.length ? `selectors [${selectors.join(', ')}]` : 'no selectors required'}`,
  ]
  if (noMatch.length) log.push(`excluded for missing selectors: ${names(noMatch)}`)
  if (stale.length) log.push(`excluded, heartbeat older than ${input.heartbeatTimeoutMs} ms: ${names(stale)}`)
  if (draining.length) log.push(`excluded, draining: ${names(draining)}`)
  if (unreachable.length) {
    log.push(`excluded, cannot reach this registry: ${names(unreachable.map(({ c, mark }) => `${c.name} (${mark.code})`))}`)
  }
  if (busy.length) log.push(`excluded, no free slot: ${names(busy)}`)

  if (eligible.length > 0) {
    const history = input.historyDelegateId === null ? undefined : eligible.find((c) => c.id === input.historyDelegateId)
    if (history) {
      log.push(`history: ${history.name} last succeeded for this connector; picked ${history.name}`)
      return { kind: 'picked', delegate: history, via: 'history', log }
    }
    let pick = eligible[0]!
    for (const c of eligible) {
      if (c.lastAssignedAt < pick.lastAssignedAt || (c.lastAssignedAt === pick.lastAssignedAt && c.name < pick.name)) pick = c
    }
    const why = input.historyDelegateId === null ? 'no history for this connector' : 'history delegate not eligible'
    log.push(`round robin among ${eligible.length} eligible (${why}): picked ${pick.name}`)
    return { kind: 'picked', delegate: pick, via: 'round-robin', log }
  }

  if (matching.length > 0 && unreachable.length === matching.length) {
    const failures = unreachable.map(({ c, mark }) => ({ delegate: c.name, code: mark.code, message: mark.message }))
    log.push('every delegate with the required selectors has failed to reach this registry')
    return { kind: 'unreachable', failures, log }
  }

  let reason: string
  if (matching.length === 0) {
    reason =
      connected === 0
        ? 'no delegate is connected'
        : `no connected delegate has selectors [${selectors.join(', ')}]`
  } else {
    reason = `all ${matching.length} matching delegates are busy, draining, silent or cannot reach the registry`
  }
  log.push(`waiting: ${reason}`)
  return { kind: 'wait', reason, log }
}

function names(list: readonly string[]): string {
  return list.length <= SHOW ? list.join(', ') : `${list.slice(0, SHOW).join(', ')} and ${list.length - SHOW} more`
}
