// "Who can run this?" in the connector form, before saving: asks POST /delegates/eligible with the
// URL and selectors as typed (debounced), and on request probes the eligible delegates.
import { api } from './api.js'
import { errorBox, h, replace, table } from './dom.js'

const REASON = {
  MISSING_SELECTORS: (r) => `lacks ${r.selectors.join(', ')}`,
  DISCONNECTED: () => 'disconnected',
  SILENT: (r) => `silent since ${new Date(r.lastHeartbeatAt).toLocaleTimeString()}`,
  DRAINING: () => 'draining',
  NO_FREE_SLOT: (r) => (r.active === null ? 'no free slot' : `no free slot (${r.active}/${r.capacity})`),
  CANNOT_REACH: (r) => `cannot reach this registry (${r.error}) until ${new Date(r.until).toLocaleTimeString()}`,
}

function reasonText(r) {
  return (REASON[r.code] ?? (() => r.code))(r)
}

function probeCell(p) {
  if (!p) return ''
  return p.reachable ? h('span.badge.ok', {}, `${p.latencyMs} ms`) : h('span.badge.bad', { title: p.message ?? '' }, p.code ?? 'unreachable')
}

/** The preview panel; `read()` gives {url, selectors} as the form holds them now. */
export function eligibilityPreview(read) {
  const body = h('div.preview-body', {}, h('p.muted', {}, 'Type the registry URL to see which delegates could run its tasks.'))
  const probeButton = h('button.small', { type: 'button' }, 'Probe reachability')
  const panel = h('section.card.eligibility', { id: 'eligibility-preview' }, h('h3', {}, 'Who could run it now ', probeButton), body)
  let timer
  let seq = 0

  async function refresh(probe = false) {
    const { url, selectors } = read()
    if (!url) return replace(body, h('p.muted', {}, 'Type the registry URL to see which delegates could run its tasks.'))
    const mine = ++seq
    if (probe) replace(body, h('p.muted', {}, 'Asking each eligible delegate to reach the registry…'))
    try {
      const a = await api('POST', '/delegates/eligible', { url, delegateSelectors: selectors, ...(probe ? { probe: true } : {}) })
      if (mine !== seq) return
      const rows = a.delegates.map((d) =>
        h('tr', { dataset: { delegate: d.name, eligible: String(d.eligible) } }, [
          h('td', {}, d.name),
          h('td', {}, d.eligible ? h('span.badge.ok', {}, 'eligible') : h('span.badge.muted', {}, 'not eligible')),
          h('td', {}, d.reasons.map(reasonText).join('; ')),
          ...(probe ? [h('td', {}, probeCell(d.probe))] : []),
        ]),
      )
      replace(
        body,
        h('p.pick', {}, a.pick ? `A task would go to ${a.pick.name}: ${a.pick.why}` : `Nobody would take a task now: ${a.waiting ?? 'no delegate is known'}`),
        table(['Delegate', 'Now', 'Why not', ...(probe ? ['Reaches the registry'] : [])], rows, { empty: 'No delegate has connected yet.' }),
      )
    } catch (err) {
      if (mine === seq) replace(body, errorBox(err))
    }
  }

  probeButton.addEventListener('click', () => void refresh(true))
  return {
    panel,
    /** the form changed: preview again shortly */
    changed() {
      clearTimeout(timer)
      timer = setTimeout(() => void refresh(false), 300)
    },
  }
}
