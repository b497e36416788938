// Tasks: the recent ones (polled), and one task with its selection log as a timeline that keeps
// growing while the task waits or runs.
import { api, FINAL, followTask } from '../api.js'
import { errorBox, every, field, fillRows, h, replace, statusBadge, taskDuration, time } from '../dom.js'

const HEADERS = ['Task', 'Type', 'Connector', 'Image', 'Status', 'Delegate', 'Attempts', 'Created', 'Duration']

export async function tasksPage(root, { signal }) {
  const { connectors } = await api('GET', '/connectors', undefined, { signal })
  const connectorName = new Map(connectors.map((c) => [c.id, c.name]))
  const statusFilter = h('select', { name: 'status' }, h('option', { value: '' }, 'any status'), [...['queued', 'running', 'succeeded', 'failed', 'expired'].map((s) => h('option', { value: s }, s))])
  const connectorFilter = h('select', { name: 'connectorId' }, h('option', { value: '' }, 'any connector'), connectors.map((c) => h('option', { value: c.id }, c.name)))
  const tbody = h('tbody')
  const problem = h('div')
  const updated = h('span.muted')

  replace(
    root,
    h('div.page-head', {}, h('h1', {}, 'Tasks'), updated),
    newTaskForm(connectors),
    h('div.list-tools', {}, statusFilter, connectorFilter),
    problem,
    h('table.tasks', {}, h('thead', {}, h('tr', {}, HEADERS.map((x) => h('th', {}, x)))), tbody),
  )

  const refresh = async () => {
    try {
      const q = new URLSearchParams({ limit: '50' })
      if (statusFilter.value) q.set('status', statusFilter.value)
      if (connectorFilter.value) q.set('connectorId', connectorFilter.value)
      const { tasks } = await api('GET', `/tasks?${q}`, undefined, { signal })
      const now = Date.now()
      fillRows(
        tbody,
        HEADERS.length,
        tasks.map((t) =>
          h(
            'tr',
            { dataset: { id: t.id, status: t.status } },
            h('td', {}, h('a', { href: `#/tasks/${encodeURIComponent(t.id)}` }, h('code', {}, t.id.slice(0, 8)))),
            h('td', {}, t.type),
            h('td', {}, connectorName.get(t.connectorId) ?? h('code.muted', {}, t.connectorId.slice(0, 8))),
            h('td', {}, t.image ?? ''),
            h('td', {}, statusBadge(t.status), t.error ? h('code.small', { title: t.error.message }, ` ${t.error.code}`) : null),
            h('td', {}, t.delegate?.name ?? '—'),
            h('td', {}, String(t.attempts)),
            h('td', {}, time(t.createdAt)),
            h('td', {}, taskDuration(t, now)),
          ),
        ),
        'No task matches.',
      )
      replace(updated, `updated ${new Date(now).toLocaleTimeString([], { hour12: false })} · every 2 s`)
      replace(problem)
    } catch (err) {
      if (!signal.aborted) replace(problem, errorBox(err))
    }
  }
  statusFilter.addEventListener('change', () => void refresh())
  connectorFilter.addEventListener('change', () => void refresh())
  await every(2000, signal, refresh)
}

function newTaskForm(connectors) {
  const type = h('select', { name: 'type' }, ['validate-connector', 'list-images', 'list-tags'].map((t) => h('option', { value: t }, t)))
  const connector = h('select', { name: 'connectorId', required: true }, connectors.map((c) => h('option', { value: c.id }, c.name)))
  const image = h('input', { name: 'image', placeholder: 'for list-tags' })
  const selectors = h('input', { name: 'delegateSelectors', placeholder: 'extra selectors, comma-separated' })
  const status = h('div.status')
  const form = h(
    'form.card.new-task',
    {},
    h('h2', {}, 'Run a task'),
    h('div.grid.four', {}, field('Type', type), field('Connector', connector), field('Image', image), field('Selectors', selectors)),
    h('div.buttons', {}, h('button.primary', { type: 'submit', disabled: connectors.length === 0 }, 'Run')),
    status,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const body = { type: type.value, connectorId: connector.value }
    if (image.value.trim()) body.image = image.value.trim()
    const sel = selectors.value.split(',').map((s) => s.trim()).filter(Boolean)
    if (sel.length) body.delegateSelectors = sel
    try {
      const { id } = await api('POST', '/tasks', body)
      location.hash = `#/tasks/${encodeURIComponent(id)}`
    } catch (err) {
      replace(status, errorBox(err))
    }
  })
  return form
}

export async function taskPage(root, { params, signal }) {
  const id = params[0]
  const head = h('div')
  const outcome = h('div')
  const timeline = h('ol.timeline', { 'aria-label': 'selection log' })
  const live = h('span.muted')
  replace(
    root,
    h('div.page-head', {}, h('h1', {}, 'Task ', h('code', {}, id)), h('a.small', { href: '#/tasks' }, '← all tasks')),
    head,
    outcome,
    h('section.card', {}, h('div.card-head', {}, h('h2', {}, 'Selection log'), live), timeline),
  )
  let connectorName = null
  let shown = 0
  const draw = (t) => {
    const conn = connectorName ?? t.connectorId
    replace(
      head,
      h(
        'dl.facts',
        {},
        h('dt', {}, 'Status'),
        h('dd', {}, statusBadge(t.status)),
        h('dt', {}, 'Type'),
        h('dd', {}, t.type, t.image ? ` · ${t.image}` : ''),
        h('dt', {}, 'Connector'),
        h('dd', {}, h('a', { href: `#/connectors/${encodeURIComponent(t.connectorId)}` }, conn)),
        h('dt', {}, 'Delegate'),
        h('dd', {}, t.delegate ? `${t.delegate.name}` : '—'),
        h('dt', {}, 'Attempts'),
        h('dd', {}, String(t.attempts)),
        h('dt', {}, 'Selectors'),
        h('dd', {}, t.delegateSelectors?.length ? t.delegateSelectors.join(', ') : 'none'),
        h('dt', {}, 'Created'),
        h('dd', {}, time(t.createdAt)),
        h('dt', {}, 'Duration'),
        h('dd', {}, taskDuration(t), t.finishedAt ? '' : ` (timeout ${Math.round(t.timeoutMs / 1000)} s)`),
        t.traceId ? [h('dt', {}, 'Trace'), h('dd', {}, traceLink(t))] : null,
      ),
    )
    replace(outcome, t.error ? errorBox(t.error, t.error.details ? h('pre.details', {}, JSON.stringify(t.error.details, null, 2)) : null) : resultSummary(t))
    // append only new entries, so that a reader's place in a long log stays put
    const start = Date.parse(t.createdAt)
    if (shown === 0) timeline.replaceChildren()
    for (const entry of t.selectionLog.slice(shown)) {
      const offset = Date.parse(entry.at) - start
      timeline.append(
        h(
          'li',
          {},
          h('span.offset', { title: new Date(entry.at).toISOString() }, `+${(offset / 1000).toFixed(3)} s`),
          h('span.message', {}, entry.message),
        ),
      )
    }
    shown = t.selectionLog.length
    if (shown === 0) timeline.append(h('li.muted', {}, 'No entry yet: the task waits for the dispatcher.'))
    replace(live, FINAL.has(t.status) ? `finished ${t.finishedAt ? new Date(t.finishedAt).toLocaleTimeString([], { hour12: false }) : ''}` : 'live: updating while the task waits or runs')
    timeline.classList.toggle('live', !FINAL.has(t.status))
  }
  let latest = null
  await followTask(id, {
    signal,
    onUpdate: (t) => {
      latest = t
      if (connectorName === null) {
        connectorName = t.connectorId
        // the name is a nicety: a deleted connector leaves its id showing
        api('GET', `/connectors/${encodeURIComponent(t.connectorId)}`, undefined, { signal })
          .then((c) => ((connectorName = c.name), draw(latest)))
          .catch(() => {})
      }
      draw(t)
    },
  })
}

function resultSummary(t) {
  const r = t.result
  if (!r) return null
  if (r.type === 'validate-connector') return h('div.ok-box', {}, h('strong', {}, '✓ Valid. '), `${r.url} · API ${r.apiVersion ?? '?'} · auth ${r.authScheme}`)
  const skipped = r.skipped ? `, ${r.skipped.toLocaleString('en')} left out (outside the distribution grammar)` : ''
  if (r.type === 'list-images') return h('div.ok-box', {}, `${r.images.length.toLocaleString('en')} images${r.truncated ? ' (truncated)' : ''}${skipped}: `, r.images.slice(0, 8).join(', '), r.images.length > 8 ? ' …' : '')
  return h('div.ok-box', {}, `${r.tags.length.toLocaleString('en')} tags of ${r.image}${r.truncated ? ' (truncated)' : ''}${skipped}: `, r.tags.slice(0, 8).join(', '), r.tags.length > 8 ? ' …' : '')
}

/**
 * The task's trace: a link when the manager has MANAGER_TRACE_URL_TEMPLATE (it puts the ready URL
 * in the task as traceUrl), else the id to paste into a tracing UI. Only http(s) becomes a link.
 */
function traceLink(t) {
  const id = h('code', {}, t.traceId)
  if (!t.traceUrl || !/^https?:\/\//i.test(t.traceUrl)) return id
  return h('a.trace-link', { href: t.traceUrl, target: '_blank', rel: 'noopener noreferrer', title: 'open this task\'s trace' }, id, ' ↗')
}
