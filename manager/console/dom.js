// Small DOM helpers: the console builds its pages with these instead of a UI framework.
// Text always goes in through textContent, never innerHTML, so nothing from the API can inject markup.
import hints from './hints.json' with { type: 'json' }

/**
 * h('button.primary', { onclick, type: 'submit' }, 'Save')
 * Props: class, dataset, on* listeners, any other attribute or DOM property.
 */
export function h(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split('.')
  const el = document.createElement(tag || 'div')
  if (classes.length) el.className = classes.join(' ')
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') el.className = [el.className, value].filter(Boolean).join(' ')
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value)
    else if (key in el && typeof value !== 'string') el[key] = value
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : visible(String(child)))
  }
  return el
}

// C0 controls but tab and newline, DEL, C1 controls, bidi marks, embeddings, overrides, isolates
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * Text from registries and peers (names, tags, messages) with its control characters shown as
 * escapes: nothing it carries can reorder what the page says (bidi overrides) or hide in it.
 */
export function visible(text) {
  return text.replace(CONTROLS, (c) => {
    const n = c.charCodeAt(0)
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`
  })
}

export function replace(el, ...children) {
  el.replaceChildren()
  return append(el, children)
}

export function hintFor(code) {
  return hints[code] ?? null
}

/** An error the API answered ({code, message}) as a box: code, message, and what to do next. */
export function errorBox(error, extra) {
  const code = error?.code ?? 'INTERNAL' // not an API answer: a bug in the console itself
  const hint = hintFor(code)
  return h(
    'div.error-box',
    { role: 'alert', dataset: { code } },
    h('div', {}, h('code.code', {}, code), ' ', h('span.message', {}, error?.message ?? String(error))),
    hint && h('div.hint', {}, h('strong', {}, 'Hint: '), hint),
    extra,
  )
}

const STATUS_CLASS = { succeeded: 'ok', failed: 'bad', expired: 'bad', running: 'busy', queued: 'wait' }

export function statusBadge(status) {
  return h(`span.badge.${STATUS_CLASS[status] ?? 'muted'}`, { dataset: { status } }, status)
}

export function time(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  const sameDay = d.toDateString() === new Date().toDateString()
  const t = d.toLocaleTimeString([], { hour12: false })
  return h('time', { datetime: iso, title: d.toISOString() }, sameDay ? t : `${d.toLocaleDateString()} ${t}`)
}

export function ago(iso, now = Date.now()) {
  if (!iso) return '—'
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  const text = s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`
  return h('time', { datetime: iso, title: new Date(iso).toISOString() }, text)
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

export function taskDuration(task, now = Date.now()) {
  const end = task.finishedAt ? Date.parse(task.finishedAt) : now
  return duration(end - Date.parse(task.createdAt))
}

/** Copies to the clipboard; falls back to a selected textarea where the Clipboard API is absent (plain http). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text)
      return true
    } catch {
      // permission refused: fall through
    }
  }
  const area = h('textarea.offscreen', { readOnly: true }, text)
  document.body.append(area)
  area.select()
  const ok = document.execCommand('copy')
  area.remove()
  return ok
}

export function copyButton(getText, label = 'Copy') {
  const button = h('button.small', { type: 'button' }, label)
  button.addEventListener('click', async () => {
    const ok = await copyText(typeof getText === 'function' ? getText() : getText)
    button.textContent = ok ? 'Copied' : 'Select and copy'
    setTimeout(() => (button.textContent = label), 1500)
  })
  return button
}

/** A delete/revoke button that asks once more in place instead of a modal dialog. */
export function confirmButton(label, confirmLabel, action) {
  let armed = false
  let timer
  const button = h('button.small.danger', { type: 'button' }, label)
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true
      button.textContent = confirmLabel
      timer = setTimeout(() => ((armed = false), (button.textContent = label)), 4000)
      return
    }
    clearTimeout(timer)
    button.disabled = true
    try {
      await action()
    } finally {
      armed = false
      button.disabled = false
      button.textContent = label
    }
  })
  return button
}

/** A table with a header row; rows are arrays of cells (nodes or text) or ready <tr> elements. */
export function table(headers, rows, { empty = 'Nothing here yet.', className = '' } = {}) {
  const body = h('tbody')
  fillRows(body, headers.length, rows, empty)
  return h(
    'table',
    { class: className },
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    body,
  )
}

export function fillRows(tbody, columns, rows, empty = 'Nothing here yet.') {
  tbody.replaceChildren()
  if (rows.length === 0) tbody.append(h('tr.empty', {}, h('td', { colSpan: columns }, empty)))
  for (const row of rows) tbody.append(row instanceof Node ? row : h('tr', {}, row.map((c) => h('td', {}, c))))
}

/** Repeats `fn` every `ms` until the signal aborts; one call at a time, errors shown by the caller. */
export function every(ms, signal, fn) {
  let timer
  const tick = async () => {
    if (signal.aborted) return
    try {
      await fn()
    } finally {
      if (!signal.aborted) timer = setTimeout(tick, ms)
    }
  }
  signal.addEventListener('abort', () => clearTimeout(timer))
  return tick()
}

export function field(label, input, help) {
  return h('label.field', {}, h('span.label', {}, label), input, help && h('small.help', {}, help))
}
