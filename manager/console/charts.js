// Charts drawn as SVG of our own: stacked bars, lines and a timeline of checks. Built with DOM
// calls like the rest of the console (text through textContent only); colours come from CSS
// classes, so the strict content security policy holds.
const NS = 'http://www.w3.org/2000/svg'
const PAD = { left: 44, right: 12, top: 10, bottom: 22 }

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v))
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c))
  return el
}

const hhmm = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false })

/** 0, a round step, … up to at least `max`: the y axis' ticks. */
export function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1]
  const raw = max / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? raw
  const out = []
  for (let v = 0; ; v += step) {
    out.push(Math.round(v * 1000) / 1000)
    if (v >= max) return out
  }
}

/** Axes and grid; `band`: one slot per label (bars) rather than points at the ends (lines). */
function frame(W, labels, yTicks, height, format, band = false) {
  const plotH = height - PAD.top - PAD.bottom
  const plotW = W - PAD.left - PAD.right
  const top = yTicks.at(-1) || 1
  const y = (v) => PAD.top + plotH - (v / top) * plotH
  const x = band ? (i) => PAD.left + (plotW / Math.max(1, labels.length)) * (i + 0.5) : (i) => PAD.left + (labels.length <= 1 ? 0 : (i / (labels.length - 1)) * plotW)
  const grid = yTicks.map((t) =>
    s('g', { class: 'tick' }, s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t) }), s('text', { x: PAD.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, format(t))),
  )
  // about one label per 140 units, the last one too unless it would touch its neighbour
  const every = Math.max(1, Math.ceil(labels.length / Math.max(2, Math.floor(W / 140))))
  const last = labels.length - 1
  const shown = (i) => (i % every === 0 && last - i >= every / 2) || i === last
  const xLabels = labels.map((l, i) => (shown(i) ? s('text', { class: 'x-label', x: x(i), y: height - 6, 'text-anchor': 'middle' }, hhmm(l)) : null))
  return { y, x, plotW, grid, xLabels, top }
}

function legend(series) {
  const el = document.createElement('div')
  el.className = 'legend'
  for (const se of series) {
    const item = document.createElement('span')
    item.className = `legend-item ${se.className}`
    const swatch = document.createElement('span')
    swatch.className = 'swatch'
    item.append(swatch, se.name)
    el.append(item)
  }
  return el
}

function figure(className, svg, series, caption) {
  const fig = document.createElement('figure')
  fig.className = `chart ${className}`
  fig.append(svg)
  if (series) fig.append(legend(series))
  if (caption) {
    const c = document.createElement('figcaption')
    c.textContent = caption
    fig.append(c)
  }
  return fig
}

/** series: [{name, className, values: number[]}] stacked per label (one bar per minute). */
export function stackedBars({ labels, series, width = 1200, height = 220, className = '', format = (v) => String(v), caption }) {
  const W = width
  const totals = labels.map((_, i) => series.reduce((sum, se) => sum + (se.values[i] ?? 0), 0))
  const { y, x, plotW, grid, xLabels } = frame(W, labels, ticks(Math.max(1, ...totals)), height, format, true)
  const slot = plotW / Math.max(1, labels.length)
  const bw = Math.max(1, slot * 0.7)
  const bars = []
  labels.forEach((label, i) => {
    let base = 0
    for (const se of series) {
      const v = se.values[i] ?? 0
      if (v > 0) {
        const r = s('rect', { class: `bar ${se.className}`, x: x(i) - bw / 2, y: y(base + v), width: bw, height: Math.max(0.5, y(base) - y(base + v)) })
        r.append(s('title', {}, `${hhmm(label)} · ${se.name}: ${format(v)}`))
        bars.push(r)
      }
      base += v
    }
  })
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': caption ?? 'bar chart' }, grid, bars, xLabels)
  return figure(className, svg, series, caption)
}

/** series: [{name, className, values: (number|null)[], dashed?}]; null leaves a gap. */
export function lineChart({ labels, series, width = 1200, height = 220, className = '', format = (v) => String(v), yMax, caption }) {
  const W = width
  const values = series.flatMap((se) => se.values.filter((v) => v !== null && v !== undefined))
  const { y, x, grid, xLabels } = frame(W, labels, ticks(Math.max(yMax ?? 0, 1e-9, ...values)), height, format)
  const paths = series.map((se) => {
    let d = ''
    let pen = false
    se.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false
        return
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`
      pen = true
    })
    const dots = se.values.map((v, i) => (v === null || v === undefined ? null : s('circle', { class: `dot ${se.className}`, cx: x(i), cy: y(v), r: 2.2 }, s('title', {}, `${hhmm(labels[i])} · ${se.name}: ${format(v)}`))))
    return s('g', { class: `line ${se.className}${se.dashed ? ' dashed' : ''}` }, d ? s('path', { d }) : null, se.dashed ? null : dots)
  })
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': caption ?? 'line chart' }, grid, paths, xLabels)
  return figure(className, svg, series, caption)
}

/**
 * Health checks as a strip, oldest left: one block per check, coloured by outcome, its height
 * by how long it took (longer: taller); hover for the details.
 */
export function checkTimeline(checks, { describe, width = 600, height = 64 } = {}) {
  const W = width
  const list = [...checks].reverse()
  const n = Math.max(list.length, 20)
  const slot = (W - 2) / n
  const longest = Math.max(1, ...list.map((c) => c.durationMs))
  const blocks = list.map((c, i) => {
    const h = 14 + (height - 30) * Math.min(1, Math.log1p(c.durationMs) / Math.log1p(longest))
    const r = s('rect', { class: `check ${c.outcome}`, x: 1 + i * slot, y: height - 16 - h, width: Math.max(2, slot - 2), height: h, rx: 2, 'data-outcome': c.outcome })
    r.append(s('title', {}, describe ? describe(c) : `${c.at} ${c.outcome}`))
    return r
  })
  const first = list[0]
  const last = list.at(-1)
  const axis = first
    ? [
        s('text', { class: 'x-label', x: 2, y: height - 3 }, new Date(first.at).toLocaleString([], { hour12: false })),
        s('text', { class: 'x-label', x: W - 2, y: height - 3, 'text-anchor': 'end' }, new Date(last.at).toLocaleString([], { hour12: false })),
      ]
    : [s('text', { class: 'x-label', x: W / 2, y: height / 2, 'text-anchor': 'middle' }, 'no check yet')]
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': 'health checks, oldest first' }, s('line', { class: 'baseline', x1: 0, x2: W, y1: height - 15, y2: height - 15 }), blocks, axis)
  return figure('health-timeline', svg, [
    { name: 'succeeded', className: 'succeeded' },
    { name: 'failed', className: 'failed' },
    { name: 'expired', className: 'expired' },
  ])
}
