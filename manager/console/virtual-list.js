// A list of any length that keeps only the rows in view in the DOM (fixed row height), with a
// filter box. 10,000 tags cost 10,000 strings in memory and about 30 elements on screen; typing
// in the filter re-runs one substring scan per animation frame at most.
import { h, replace } from './dom.js'

export function filteredList({ rowHeight = 28, placeholder = 'Filter', label = 'items', renderRow, onPick }) {
  let all = []
  let lower = []
  let shown = []
  let frame = 0

  const filter = h('input.filter', { type: 'search', placeholder, 'aria-label': placeholder })
  const count = h('span.count.muted', { 'aria-live': 'polite' })
  const spacer = h('div.vlist-spacer')
  const rows = h('ul.vlist-rows', { role: 'listbox' })
  const viewport = h('div.vlist', { tabIndex: 0 }, spacer, rows)

  function draw() {
    frame = 0
    const height = viewport.clientHeight || 420
    const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - 5)
    const last = Math.min(shown.length, Math.ceil((viewport.scrollTop + height) / rowHeight) + 5)
    rows.style.transform = `translateY(${first * rowHeight}px)`
    const items = []
    for (let i = first; i < last; i++) {
      const value = shown[i]
      const li = h('li.vlist-row', { role: 'option', dataset: { value } }, renderRow ? renderRow(value) : value)
      li.style.height = `${rowHeight}px`
      if (onPick) li.addEventListener('click', () => onPick(value))
      items.push(li)
    }
    rows.replaceChildren(...items)
  }
  const schedule = () => (frame ||= requestAnimationFrame(draw))

  function applyFilter() {
    const q = filter.value.trim().toLowerCase()
    if (q === '') shown = all
    else {
      shown = []
      for (let i = 0; i < all.length; i++) if (lower[i].includes(q)) shown.push(all[i])
    }
    spacer.style.height = `${shown.length * rowHeight}px`
    replace(count, q === '' ? `${all.length.toLocaleString('en')} ${label}` : `${shown.length.toLocaleString('en')} of ${all.length.toLocaleString('en')} ${label}`)
    viewport.scrollTop = 0
    schedule()
  }

  let filterFrame = 0
  filter.addEventListener('input', () => (filterFrame ||= requestAnimationFrame(() => ((filterFrame = 0), applyFilter()))))
  viewport.addEventListener('scroll', schedule, { passive: true })

  return {
    el: h('div.filtered-list', {}, h('div.list-tools', {}, filter, count), viewport),
    filter,
    setItems(items) {
      all = items
      lower = items.map((s) => s.toLowerCase())
      applyFilter()
    },
  }
}
