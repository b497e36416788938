// Activity over the last hour: tasks per minute by outcome, duration percentiles, and each
// delegate's load. Drawn from GET /stats/tasks and /stats/delegates; refreshed every 15 s.
import { api } from '../api.js'
import { lineChart, stackedBars } from '../charts.js'
import { duration, errorBox, every, field, h, replace } from '../dom.js'

const OUTCOMES = ['succeeded', 'failed', 'expired']
const TYPES = ['validate-connector', 'list-images', 'list-tags']

export async function activityPage(root, { signal }) {
  const typeSelect = h('select', { name: 'type' }, h('option', { value: '' }, 'all types'), TYPES.map((t) => h('option', { value: t }, t)))
  const seriesSelect = h('select', { name: 'series' })
  const tasksHolder = h('div')
  const percentilesHolder = h('div')
  const windowHolder = h('div')
  const delegatesHolder = h('div.small-multiples')
  const updated = h('span.muted')
  const problem = h('div')
  replace(
    root,
    h('div.page-head', {}, h('h1', {}, 'Activity'), updated),
    h('p.muted', {}, 'The last hour, minute by minute, across every manager replica.'),
    problem,
    h('section.card.tasks-per-minute', {}, h('div.card-head', {}, h('h2', {}, 'Tasks per minute'), field('Type', typeSelect)), tasksHolder),
    h(
      'section.card.durations',
      {},
      h('div.card-head', {}, h('h2', {}, 'Duration percentiles'), field('Type and outcome', seriesSelect)),
      percentilesHolder,
      windowHolder,
    ),
    h('section.card.delegate-load', {}, h('h2', {}, 'Delegate load'), h('p.muted.small', {}, 'Running tasks per minute (average and highest) against each delegate’s capacity.'), delegatesHolder),
  )

  let stats = null
  let load = null
  const draw = () => {
    if (stats) {
      drawTasks(tasksHolder, stats, typeSelect.value)
      drawPercentiles(percentilesHolder, windowHolder, stats, seriesSelect)
    }
    if (load) drawLoad(delegatesHolder, load)
  }
  typeSelect.addEventListener('change', draw)
  seriesSelect.addEventListener('change', draw)

  await every(15_000, signal, async () => {
    try {
      const [t, l] = await Promise.all([api('GET', '/stats/tasks?minutes=60', undefined, { signal }), api('GET', '/stats/delegates?minutes=60', undefined, { signal })])
      stats = t
      load = l
      fillSeriesSelect(seriesSelect, stats)
      draw()
      replace(updated, `updated ${new Date().toLocaleTimeString([], { hour12: false })} · every 15 s`)
      replace(problem)
    } catch (err) {
      if (!signal.aborted) replace(problem, errorBox(err))
    }
  })
}

function drawTasks(holder, stats, type) {
  const series = OUTCOMES.map((outcome) => ({
    name: outcome,
    className: outcome,
    values: stats.minutes.map((_, i) => stats.series.filter((se) => se.outcome === outcome && (!type || se.type === type)).reduce((sum, se) => sum + se.counts[i], 0)),
  }))
  const total = series.reduce((sum, se) => sum + se.values.reduce((a, b) => a + b, 0), 0)
  replace(holder, stackedBars({ labels: stats.minutes, series, className: 'tasks-chart', caption: `${total} tasks ended in the last hour${type ? ` (${type})` : ''}` }))
}

function fillSeriesSelect(select, stats) {
  const before = select.value
  const keys = stats.series.map((se) => `${se.type}|${se.outcome}`)
  if (keys.join() === [...select.options].map((o) => o.value).join()) return
  // the busiest series first, so the chart shows something useful without a choice
  const ordered = [...stats.series].sort((a, b) => b.total - a.total)
  replace(select, ordered.map((se) => h('option', { value: `${se.type}|${se.outcome}` }, `${se.type} · ${se.outcome}`)))
  if (keys.includes(before)) select.value = before
}

function drawPercentiles(holder, windowHolder, stats, select) {
  const se = stats.series.find((x) => `${x.type}|${x.outcome}` === select.value)
  if (!se) {
    replace(holder, h('p.muted', {}, 'No task ended in the last hour.'))
    replace(windowHolder)
    return
  }
  replace(
    holder,
    lineChart({
      labels: stats.minutes,
      series: [
        { name: 'p50', className: 'p50', values: se.p50Ms },
        { name: 'p95', className: 'p95', values: se.p95Ms },
      ],
      className: 'percentiles-chart',
      format: (v) => duration(v),
      caption: `${se.type} · ${se.outcome}, from creation to end (waiting for a delegate included)`,
    }),
  )
  const rows = stats.series.map((x) =>
    h(
      'tr',
      { dataset: { series: `${x.type}|${x.outcome}` } },
      h('td', {}, x.type),
      h('td', {}, x.outcome),
      h('td.num', {}, String(x.total)),
      h('td.num', {}, duration(x.window.p50Ms)),
      h('td.num', {}, duration(x.window.p90Ms)),
      h('td.num', {}, duration(x.window.p99Ms)),
    ),
  )
  replace(windowHolder, h('table.window', {}, h('thead', {}, h('tr', {}, ['Type', 'Outcome'].map((x) => h('th', {}, x)), ['Tasks', 'p50', 'p90', 'p99'].map((x) => h('th.num', {}, x)))), h('tbody', {}, rows)))
}

function drawLoad(holder, load) {
  if (load.delegates.length === 0) {
    replace(holder, h('p.muted', {}, 'No delegate was connected in the last hour.'))
    return
  }
  const more = load.total > load.delegates.length ? h('p.muted.small', {}, `The ${load.delegates.length} busiest of ${load.total} delegates.`) : null
  replace(
    holder,
    more,
    load.delegates.map((d) =>
      h(
        'div.delegate-chart',
        { dataset: { name: d.name } },
        h('h3', {}, d.name, h('span.muted.small', {}, ` capacity ${d.capacity}`)),
        lineChart({
          labels: load.minutes,
          series: [
            { name: 'highest', className: 'load-max', values: d.max },
            { name: 'average', className: 'load-avg', values: d.avg },
            { name: 'capacity', className: 'capacity', values: load.minutes.map(() => d.capacity), dashed: true },
          ],
          width: 560,
          height: 170,
          yMax: d.capacity,
          className: 'load-chart',
        }),
      ),
    ),
  )
}
