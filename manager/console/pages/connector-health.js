// A connector's health (its checks as a timeline, polled) and its registry profile (what the
// latest successful validation learned), as cards on the connector page.
import { api } from '../api.js'
import { checkTimeline } from '../charts.js'
import { ago, duration, errorBox, every, h, replace, time } from '../dom.js'

const STATE_CLASS = { healthy: 'ok', failing: 'bad', unknown: 'muted' }

function describeCheck(c) {
  const when = new Date(c.at).toLocaleString([], { hour12: false })
  const parts = [when, c.outcome + (c.code ? ` ${c.code}` : ''), c.delegate ? `on ${c.delegate.name}` : null, duration(c.durationMs)]
  return parts.filter(Boolean).join(' · ') + (c.message ? `\n${c.message}` : '')
}

/** The health card; it refreshes itself every 5 s until the page goes. */
export function healthCard(connectorId, signal) {
  const card = h('section.card.health', { dataset: { state: 'unknown' } })
  void every(5000, signal, async () => {
    try {
      drawHealth(card, await api('GET', `/connectors/${encodeURIComponent(connectorId)}/health`, undefined, { signal }))
    } catch (err) {
      if (!signal.aborted) replace(card, h('h2', {}, 'Health'), errorBox(err))
    }
  })
  return card
}

function drawHealth(card, health) {
  card.dataset.state = health.state
  const schedule = health.healthCheck
    ? h('span', {}, `checked every ${health.healthCheck.intervalSeconds} s`, health.nextCheckAt ? h('span', {}, ' · next ', time(health.nextCheckAt)) : null)
    : h('span', {}, 'no scheduled check: turn one on with Edit')
  const latest = health.checks[0]
  if (!health.healthCheck && health.checks.length === 0) {
    replace(
      card,
      h('h2', {}, 'Health ', h('span.badge.muted', { dataset: { state: health.state } }, 'not checked')),
      h('p.muted', {}, 'Turn on a health check with Edit: the connector is then validated on that schedule, its checks show here as a timeline, and failures raise alerts.'),
    )
    return
  }
  replace(
    card,
    h(
      'div.card-head',
      {},
      h('h2', {}, 'Health ', h(`span.badge.${STATE_CLASS[health.state]}`, { dataset: { state: health.state } }, health.state), health.since ? h('span.muted.small', {}, ' since ', ago(health.since)) : null),
      h('span.muted.small', {}, schedule),
    ),
    checkTimeline(health.checks, { describe: describeCheck }),
    h('p.muted.small', {}, `${health.checks.length} of the last 100 checks, oldest left; a validation run by hand counts too. Hover a block for its details.`),
    latest && latest.outcome !== 'succeeded' ? errorBox({ code: latest.code ?? latest.outcome.toUpperCase(), message: latest.message ?? `the last check ${latest.outcome}` }) : null,
  )
}

/** The latest succeeded validation of the connector, if any (its result carries the profile). */
export async function latestValidation(connectorId, signal) {
  const q = new URLSearchParams({ connectorId, status: 'succeeded', limit: '50' })
  const { tasks } = await api('GET', `/tasks?${q}`, undefined, { signal })
  const last = tasks.find((t) => t.type === 'validate-connector')
  return last ? api('GET', `/tasks/${encodeURIComponent(last.id)}`, undefined, { signal }) : null
}

const yesNo = (v, yes, no) => (v === null || v === undefined ? h('span.muted', {}, 'unknown') : v ? yes : no)

/** The registry profile of a succeeded validate-connector task, or a hint to validate. */
export function profileCard(task) {
  const p = task?.result?.profile
  if (!p) {
    return h('section.card.profile', { dataset: { empty: 'true' } }, h('h2', {}, 'Registry profile'), h('p.muted', {}, task ? 'The delegate that validated this connector is too old to profile registries.' : 'Validate the connector to see how its registry authenticates, pages and limits, and its certificate.'))
  }
  const auth = [p.auth.scheme]
  if (p.auth.realmHost) auth.push(`token service ${p.auth.realmHost}`)
  if (p.auth.service) auth.push(`service ${p.auth.service}`)
  const pagination = p.pagination
    ? [p.pagination.mode === 'link' ? 'Link headers' : 'no Link header seen', p.pagination.largestPageSize ? `n up to ${p.pagination.largestPageSize}` : 'no n accepted', p.pagination.steppedDown ? 'refused n=1000' : null].filter(Boolean).join(' · ')
    : h('span.muted', {}, 'the catalog cannot be read')
  const tls = p.tls
    ? h(
        'span',
        { class: p.tls.daysUntilExpiry <= 14 ? 'warn-text' : '' },
        `${p.tls.protocol} · ${p.tls.issuer} · expires `,
        time(p.tls.notAfter),
        ` (in ${p.tls.daysUntilExpiry} day${p.tls.daysUntilExpiry === 1 ? '' : 's'})`,
      )
    : h('span.muted', {}, task.result.url.startsWith('https:') ? 'not inspected (behind a proxy)' : 'plain http')
  const facts = [
    ['API version', p.apiVersion ?? h('span.muted', {}, 'no version header')],
    ['Auth', auth.join(' · ')],
    ['Anonymous pulls', yesNo(p.auth.anonymousPull, 'allowed', 'refused')],
    ['Catalog', h('span', { dataset: { catalog: p.catalog } }, p.catalog)],
    ['Pagination', pagination],
    ['Rate limit', p.rateLimit ? `${p.rateLimit.limit}${p.rateLimit.remaining ? ` · ${p.rateLimit.remaining} remaining` : ''}` : h('span.muted', {}, 'no RateLimit headers')],
    ['TLS', tls],
  ]
  return h(
    'section.card.profile',
    {},
    h('div.card-head', {}, h('h2', {}, 'Registry profile'), h('span.muted.small', {}, 'from the validation ', time(task.finishedAt), task.delegate ? ` on ${task.delegate.name}` : '', ' · ', h('a', { href: `#/tasks/${encodeURIComponent(task.id)}` }, 'task'))),
    h('dl.facts', {}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { fact: k } }, v)])),
  )
}
