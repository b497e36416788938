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
  /** the delegates to consider */
  candidates: Iterable<Candidate>
  /** every candidate is known to match the selectors (the dispatcher's index chose them) */
  matched?: boolean
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
  | { kind: 'picked'; delegate: Candidate; via: 'history' | 'round-robin'; eligible: number; log: string[] }
  /** Nobody can take it now; someone may later. `reason` is stable while nothing changes. */
  | { kind: 'wait'; reason: string; log: string[] }
  /** Every delegate that matches the selectors is marked unable to reach the registry. */
  | { kind: 'unreachable'; failures: { delegate: string; code: string; message: string }[]; log: string[] }

const SHOW = 8

/** Why one delegate cannot take a task now: the one list (the eligibility preview names every reason). */
export const INELIGIBLE_REASONS = ['MISSING_SELECTORS', 'DISCONNECTED', 'SILENT', 'DRAINING', 'NO_FREE_SLOT', 'CANNOT_REACH'] as const
export type IneligibleCode = (typeof INELIGIBLE_REASONS)[number]
export const Ineligible = Object.fromEntries(INELIGIBLE_REASONS.map((c) => [c, c])) as { readonly [K in IneligibleCode]: K }

export type IneligibleReason =
  | { code: typeof Ineligible.MISSING_SELECTORS; selectors: string[] }
  | { code: typeof Ineligible.DISCONNECTED }
  | { code: typeof Ineligible.SILENT; lastHeartbeatAt: string }
  | { code: typeof Ineligible.DRAINING }
  | { code: typeof Ineligible.NO_FREE_SLOT; active: number | null; capacity: number }
  | { code: typeof Ineligible.CANNOT_REACH; error: string; message: string; until: string }

/** Every reason a connected candidate is not eligible for this task; none: eligible. Same rules as selectDelegate. */
export function reasonsAgainst(c: Candidate, input: Pick<SelectionInput, 'selectors' | 'now' | 'heartbeatTimeoutMs' | 'unreachable'>): IneligibleReason[] {
  const out: IneligibleReason[] = []
  const missing = input.selectors.filter((s) => !c.selectors.has(s))
  if (missing.length) out.push({ code: Ineligible.MISSING_SELECTORS, selectors: missing })
  if (c.local && input.now - c.lastHeartbeatAt > input.heartbeatTimeoutMs) out.push({ code: Ineligible.SILENT, lastHeartbeatAt: new Date(c.lastHeartbeatAt).toISOString() })
  if (c.draining) out.push({ code: Ineligible.DRAINING })
  const mark = input.unreachable.get(c.id)
  if (mark && mark.until > input.now) out.push({ code: Ineligible.CANNOT_REACH, error: mark.code, message: mark.message, until: new Date(mark.until).toISOString() })
  if (noFreeSlot(c)) out.push({ code: Ineligible.NO_FREE_SLOT, active: c.local ? c.active : null, capacity: c.capacity })
  return out
}

/**
 * One pass over the candidates: excluded ones are kept by reference (only the first few become
 * text, for the log), eligible ones are only counted while the least recently assigned is kept,
 * so that thousands of candidates cost little more than a loop.
 */
export function selectDelegate(input: SelectionInput): Selection {
  const { selectors, now, historyDelegateId } = input
  let matching = 0
  const noMatch: Candidate[] = []
  const stale: Candidate[] = []
  const draining: Candidate[] = []
  const busy: Candidate[] = []
  const unreachable: { c: Candidate; mark: UnreachableMark }[] = []
  let eligible = 0
  let history: Candidate | undefined
  let pick: Candidate | undefined
  let seen = 0

  for (const c of input.candidates) {
    seen++
    if (!input.matched && !selectors.every((s) => c.selectors.has(s))) {
      noMatch.push(c)
      continue
    }
    matching++
    if (c.local && now - c.lastHeartbeatAt > input.heartbeatTimeoutMs) stale.push(c)
    else if (c.draining) draining.push(c)
    else {
      const mark = input.unreachable.get(c.id)
      if (mark && mark.until > now) unreachable.push({ c, mark })
      else if (noFreeSlot(c)) busy.push(c)
      else {
        eligible++
        if (c.id === historyDelegateId) history = c
        if (!pick || c.lastAssignedAt < pick.lastAssignedAt || (c.lastAssignedAt === pick.lastAssignedAt && c.name < pick.name)) pick = c
      }
    }
  }

  const connected = input.connected ?? seen
  const log = [
    `candidates: ${connected} connected, ${matching} with ${selectors.length ? `selectors [${selectors.join(', ')}]` : 'no selectors required'}`,
  ]
  if (noMatch.length) log.push(`excluded for missing selectors: ${names(noMatch, (c) => c.name)}`)
  if (stale.length) log.push(`excluded, heartbeat older than ${input.heartbeatTimeoutMs} ms: ${names(stale, (c) => c.name)}`)
  if (draining.length) log.push(`excluded, draining: ${names(draining, (c) => c.name)}`)
  if (unreachable.length) log.push(`excluded, cannot reach this registry: ${names(unreachable, ({ c, mark }) => `${c.name} (${mark.code})`)}`)
  if (busy.length) {
    log.push(`excluded, no free slot: ${names(busy, (c) => (c.local ? `${c.name} (${c.active}/${c.capacity})` : `${c.name} (full on its replica)`))}`)
  }

  if (history) {
    log.push(`history: ${history.name} last succeeded for this connector; picked ${history.name}`)
    return { kind: 'picked', delegate: history, via: 'history', eligible, log }
  }
  if (pick) {
    const why = historyDelegateId === null ? 'no history for this connector' : 'history delegate not eligible'
    log.push(`round robin among ${eligible} eligible (${why}): picked ${pick.name}`)
    return { kind: 'picked', delegate: pick, via: 'round-robin', eligible, log }
  }

  if (matching > 0 && unreachable.length === matching) {
    const failures = unreachable.map(({ c, mark }) => ({ delegate: c.name, code: mark.code, message: mark.message }))
    log.push('every delegate with the required selectors has failed to reach this registry')
    return { kind: 'unreachable', failures, log }
  }

  let reason: string
  if (matching === 0) {
    reason = connected === 0 ? 'no delegate is connected' : `no connected delegate has selectors [${selectors.join(', ')}]`
  } else {
    reason = `all ${matching} matching delegates are busy, draining, silent or cannot reach the registry`
  }
  log.push(`waiting: ${reason}`)
  return { kind: 'wait', reason, log }
}

/** The first few, as text, and how many more. */
function names<T>(list: readonly T[], text: (item: T) => string): string {
  const shown = list.slice(0, SHOW).map(text).join(', ')
  return list.length <= SHOW ? shown : `${shown} and ${list.length - SHOW} more`
}
