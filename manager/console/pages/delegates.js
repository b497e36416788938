// Delegates: who is connected, what they offer, how busy they are. Polls the API every 2 s.
import { api } from '../api.js'
import { ago, errorBox, every, fillRows, h, replace, time } from '../dom.js'

const HEADERS = ['Name', 'State', 'Selectors', 'Version', 'Tasks', 'Last heartbeat', 'Connected since', 'Replica']

export async function delegatesPage(root, { signal }) {
  const tbody = h('tbody')
  const updated = h('span.muted')
  const problem = h('div')
  replace(
    root,
    h('div.page-head', {}, h('h1', {}, 'Delegates'), updated),
    h('p.muted', {}, 'Delegates dial out to the manager from inside your networks. A task goes only to a connected delegate whose selectors include all of the task’s.'),
    problem,
    h('table.delegates', {}, h('thead', {}, h('tr', {}, HEADERS.map((x) => h('th', {}, x)))), tbody),
  )

  await every(2000, signal, async () => {
    try {
      const list = await api('GET', '/delegates', undefined, { signal })
      list.sort((a, b) => Number(b.connected) - Number(a.connected) || a.name.localeCompare(b.name))
      const now = Date.now()
      fillRows(
        tbody,
        HEADERS.length,
        list.map((d) => row(d, now)),
        h('span', {}, 'No delegate has connected yet. ', h('a', { href: '#/access' }, 'Create a delegate token'), ' and start one with it.'),
      )
      replace(updated, `updated ${new Date(now).toLocaleTimeString([], { hour12: false })} · every 2 s`)
      replace(problem)
    } catch (err) {
      if (!signal.aborted) replace(problem, errorBox(err))
    }
  })
}

function row(d, now) {
  const state = !d.connected ? ['off', 'disconnected'] : d.draining ? ['wait', 'draining'] : ['ok', 'connected']
  const load = d.capacity > 0 ? Math.min(1, d.activeTasks / d.capacity) : 0
  const meter = h('span.meter', { title: `${d.activeTasks} of ${d.capacity}` }, h('span.meter-fill'))
  meter.firstChild.style.width = `${Math.round(load * 100)}%`
  return h(
    'tr',
    { class: d.connected ? '' : 'dim', dataset: { name: d.name, connected: String(d.connected) } },
    h('td', {}, h('strong', {}, d.name), h('div.muted.small', {}, d.id)),
    h('td', {}, h(`span.dot.${state[0]}`), ' ', state[1]),
    h('td', {}, d.tags?.length ? h('span.chips', {}, d.tags.map((t) => h('span.chip', {}, t))) : h('span.muted', {}, 'none')),
    h('td', {}, d.version || '—'),
    h('td', {}, meter, ` ${d.activeTasks} / ${d.capacity}`),
    h('td', {}, ago(d.lastHeartbeatAt, now)),
    h('td', {}, d.connected ? time(d.connectedAt) : '—'),
    h('td', {}, d.replica ?? '—'),
  )
}
