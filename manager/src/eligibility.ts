/**
 * "Who can run this?" before anything runs (SPEC §8): for a saved connector, or for a connector
 * not saved yet (its URL and selectors), plus a task's own selectors, every delegate any replica
 * has seen, whether it is eligible now and every reason it is not, and which one would be picked
 * (history, else round robin) and why. Nothing is queued and nothing changes.
 */
import { normalizeSelectors } from './connector-store.ts'
import type { DelegateView } from './delegate-directory.ts'
import type { Dispatcher, HistoryStore } from './dispatcher.ts'
import { registryHostOf } from './registry-host.ts'
import type { ProbeAnswer, Prober } from './prober.ts'
import { Ineligible, type IneligibleReason } from './select-delegate.ts'

export interface EligibilityQuery {
  /** a saved connector, or its URL and selectors (not saved yet) */
  connector: { id: string; url: string; delegateSelectors: readonly string[] } | { url: string; delegateSelectors: readonly string[] }
  /** the task's own selectors, on top of the connector's */
  taskSelectors: readonly string[]
}

export interface EligibleDelegate {
  id: string
  name: string
  replica: string
  connected: boolean
  eligible: boolean
  reasons: IneligibleReason[]
  /** with `probe`, for eligible delegates: whether it reaches the registry (its network code, or its latency) */
  probe?: ProbeAnswer
}

export interface EligibilityAnswer {
  registryHost: string
  selectors: string[]
  delegates: EligibleDelegate[]
  /** the delegate a task would go to now */
  pick: { id: string; name: string; via: 'history' | 'round-robin'; why: string } | null
  /** when nobody would take it: why it would wait, or that every matching delegate cannot reach the registry */
  waiting: string | null
}

export async function previewEligibility(
  deps: { dispatcher: Dispatcher; history: HistoryStore; delegates: () => Promise<DelegateView[]>; prober: Prober | null },
  query: EligibilityQuery,
): Promise<EligibilityAnswer> {
  const selectors = normalizeSelectors([...query.connector.delegateSelectors, ...query.taskSelectors])
  const registryHost = registryHostOf(query.connector.url)
  const historyDelegateId = 'id' in query.connector ? await deps.history.get(query.connector.id) : null
  const [known, preview] = await Promise.all([deps.delegates(), Promise.resolve(deps.dispatcher.preview(selectors, registryHost, historyDelegateId))])

  const delegates: EligibleDelegate[] = preview.delegates.map(({ record, reasons }) => ({
    id: record.id,
    name: record.name,
    replica: record.owner,
    connected: true,
    eligible: reasons.length === 0,
    reasons,
  }))
  const seen = new Set(delegates.map((d) => d.id))
  for (const d of known) {
    if (seen.has(d.id)) continue
    const missing = selectors.filter((s) => !d.tags.includes(s) && s !== d.name.toLowerCase())
    const reasons: IneligibleReason[] = [{ code: Ineligible.DISCONNECTED }]
    if (missing.length) reasons.push({ code: Ineligible.MISSING_SELECTORS, selectors: missing })
    delegates.push({ id: d.id, name: d.name, replica: d.replica, connected: false, eligible: false, reasons })
  }
  delegates.sort((a, b) => Number(b.eligible) - Number(a.eligible) || a.name.localeCompare(b.name))
  if (deps.prober) {
    const probed = preview.delegates.filter((d) => d.reasons.length === 0).map((d) => d.record)
    const answers = await deps.prober.probe(probed, query.connector.url)
    for (const d of delegates) {
      const answer = answers.get(d.id)
      if (answer) d.probe = answer
    }
  }

  const sel = preview.selection
  const last = sel.log.at(-1) ?? ''
  return {
    registryHost,
    selectors,
    delegates,
    pick: sel.kind === 'picked' ? { id: sel.delegate.id, name: sel.delegate.name, via: sel.via, why: last } : null,
    waiting: sel.kind === 'wait' ? sel.reason : sel.kind === 'unreachable' ? last : null,
  }
}
