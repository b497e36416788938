// Connectors: list, create/edit, validate (result in place), browse images and tags.
import { api, runTask } from '../api.js'
import { confirmButton, copyButton, errorBox, field, h, replace, statusBadge, taskDuration } from '../dom.js'
import { eligibilityPreview } from '../eligibility-preview.js'
import { filteredList } from '../virtual-list.js'
import { healthCard, latestValidation, profileCard } from './connector-health.js'

const REF_PATTERN = '^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$'

export async function connectorsPage(root, { signal }) {
  const formHolder = h('div')
  const list = h('div')
  const newButton = h('button.primary', { type: 'button', id: 'new-connector' }, 'New connector')
  replace(
    root,
    h('div.page-head', {}, h('h1', {}, 'Connectors'), newButton),
    h('p.muted', {}, 'Docker registries the delegates reach for you. Validate one to see whether a delegate can log in to it.'),
    formHolder,
    list,
  )

  async function load() {
    const [{ connectors }, { secrets }] = await Promise.all([api('GET', '/connectors', undefined, { signal }), api('GET', '/secrets', undefined, { signal })])
    const secretName = new Map(secrets.map((s) => [s.id, s.name]))
    replace(list, connectorTable(connectors, secretName, { signal, onEdit: (c) => openForm(c), onChanged: load }))
  }
  async function openForm(existing) {
    const { secrets } = await api('GET', '/secrets', undefined, { signal })
    replace(
      formHolder,
      connectorForm(existing, secrets, {
        onSaved: async () => {
          replace(formHolder)
          await load()
        },
        onCancel: () => replace(formHolder),
      }),
    )
    formHolder.querySelector('input')?.focus()
  }
  newButton.addEventListener('click', () => void openForm(null))
  await load()
}

function authText(c, secretName) {
  if (c.passwordSecretId) return `${c.username} · secret ${secretName.get(c.passwordSecretId) ?? c.passwordSecretId}`
  if (c.passwordRef) return `${c.username} · delegate ${c.passwordRef}`
  if (c.username) return `${c.username} · no password`
  return 'anonymous'
}

function selectorChips(selectors) {
  if (!selectors?.length) return h('span.muted', {}, 'any delegate')
  return h('span.chips', {}, selectors.map((s) => h('span.chip', {}, s)))
}

function connectorTable(connectors, secretName, { signal, onEdit, onChanged }) {
  const headers = ['Name', 'URL', 'Credentials', 'Selectors', 'Project', '']
  const table = h('table.connectors', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))))
  if (connectors.length === 0) {
    table.append(h('tbody', {}, h('tr.empty', {}, h('td', { colSpan: headers.length }, 'No connector yet: create one with “New connector”.'))))
  }
  for (const c of connectors) {
    const result = h('td.validation', { colSpan: headers.length })
    const resultRow = h('tr.result-row', { hidden: true }, result)
    const validateButton = h('button.small', { type: 'button', dataset: { action: 'validate' } }, 'Validate')
    validateButton.addEventListener('click', async () => {
      resultRow.hidden = false
      validateButton.disabled = true
      try {
        await validateInto(result, c, signal)
      } finally {
        validateButton.disabled = false
      }
    })
    const remove = confirmButton('Delete', 'Really delete?', async () => {
      try {
        await api('DELETE', `/connectors/${encodeURIComponent(c.id)}`)
        await onChanged()
      } catch (err) {
        resultRow.hidden = false
        replace(result, errorBox(err))
      }
    })
    const edit = h('button.small', { type: 'button', onclick: () => void onEdit(c) }, 'Edit')
    table.append(
      h(
        'tbody.connector',
        { dataset: { id: c.id, name: c.name } },
        h(
          'tr',
          {},
          h('td', {}, h('a', { href: `#/connectors/${encodeURIComponent(c.id)}` }, c.name)),
          h('td', {}, h('code', {}, c.url)),
          h('td', {}, authText(c, secretName)),
          h('td', {}, selectorChips(c.delegateSelectors)),
          h('td', {}, c.project ?? h('span.muted', {}, 'account')),
          h('td.actions', {}, validateButton, h('a.button.small', { href: `#/connectors/${encodeURIComponent(c.id)}` }, 'Browse'), edit, remove),
        ),
        resultRow,
      ),
    )
  }
  return table
}

/** Runs validate-connector through the task API, so the row shows why it waits while it waits. */
async function validateInto(holder, connector, signal) {
  try {
    const task = await runTask({ type: 'validate-connector', connectorId: connector.id }, { signal, onUpdate: (t) => replace(holder, progress(t)) })
    replace(holder, validationResult(task))
    return task
  } catch (err) {
    if (!signal.aborted) replace(holder, errorBox(err))
    return null
  }
}

function progress(task) {
  const last = task.selectionLog.at(-1)?.message
  return h('div.progress', {}, h('span.spinner', { 'aria-hidden': 'true' }), statusBadge(task.status), ' ', last ?? 'waiting for the dispatcher…', ' ', taskLink(task, 'selection log'))
}

/** Names or tags a registry listed outside the distribution grammar, left out by the delegate. */
export function skippedNote(skipped, what) {
  if (!skipped) return null
  return h('div.warn.skipped', {}, `The registry listed ${skipped.toLocaleString('en')} ${what} that do not fit the distribution grammar (control characters, escape sequences, too long); they are left out.`)
}

function taskLink(task, text = 'task') {
  return h('a.task-link', { href: `#/tasks/${encodeURIComponent(task.id)}` }, text)
}

export function validationResult(task) {
  if (task.status === 'succeeded' && task.result?.type === 'validate-connector') {
    const r = task.result
    return h(
      'div.ok-box',
      { role: 'status', dataset: { status: 'succeeded' } },
      h('strong', {}, '✓ Valid. '),
      `${r.url} speaks the registry API${r.apiVersion ? ` (${r.apiVersion})` : ''}, auth: ${r.authScheme}; checked by ${task.delegate?.name ?? '?'} in ${taskDuration(task)}. `,
      taskLink(task, 'selection log'),
    )
  }
  return h('div', { dataset: { status: task.status } }, errorBox(task.error ?? { code: 'EXPIRED', message: `task ${task.status}` }, h('div', {}, statusBadge(task.status), ' ', task.delegate ? `on ${task.delegate.name} · ` : '', taskLink(task, 'selection log'))))
}

function connectorForm(existing, secrets, { onSaved, onCancel }) {
  const v = existing ?? {}
  const name = h('input', { name: 'name', required: true, maxLength: 200, value: v.name ?? '' })
  const url = h('input', { name: 'url', required: true, placeholder: 'registry.example.com, host:5000 or https://index.docker.io/v2/', value: v.url ?? '' })
  const username = h('input', { name: 'username', autocomplete: 'off', value: v.username ?? '' })
  const mode = v.passwordSecretId ? 'secret' : v.passwordRef ? 'ref' : 'none'
  const radios = ['none', 'secret', 'ref'].map((m) => h('input', { type: 'radio', name: 'passwordMode', value: m, checked: m === mode }))
  const secretSelect = h(
    'select',
    { name: 'passwordSecretId' },
    h('option', { value: '' }, secrets.length ? '— choose a secret —' : '— no secret yet —'),
    secrets.map((s) => h('option', { value: s.id, selected: s.id === v.passwordSecretId }, s.project ? `${s.name} (project ${s.project})` : s.name)),
  )
  const ref = h('input', { name: 'passwordRef', placeholder: 'env:REGISTRY_PASSWORD_HARBOR or file:/run/secrets/registry', pattern: REF_PATTERN, value: v.passwordRef ?? '' })
  const selectors = h('input', { name: 'delegateSelectors', placeholder: 'e.g. eu, docker (comma-separated)', value: (v.delegateSelectors ?? []).join(', ') })
  const project = h('input', { name: 'project', placeholder: 'empty: account level', value: v.project ?? '' })
  const healthOn = h('input', { type: 'checkbox', name: 'healthCheck', checked: Boolean(v.healthCheck) })
  const interval = h('input', { type: 'number', name: 'intervalSeconds', min: 30, max: 86400, step: 1, value: String(v.healthCheck?.intervalSeconds ?? 300) })
  const secretField = field('Password secret', secretSelect, h('span', {}, 'Stored encrypted in the manager. ', h('a', { href: '#/access' }, 'Create a secret')))
  const refField = field(
    'Password reference',
    ref,
    h(
      'span',
      {},
      'Resolved by the delegate from its own environment or files; the password never reaches the manager. ',
      'A delegate resolves only what its operator allows in ',
      h('code', {}, 'DELEGATE_PASSWORD_REFS'),
      ' (default ',
      h('code', {}, 'env:REGISTRY_PASSWORD_*'),
      '; e.g. ',
      h('code', {}, 'env:REGISTRY_PASSWORD_*,file:/run/secrets/*'),
      '); any other reference fails INVALID_INPUT.',
    ),
  )
  const status = h('div.status')
  const splitSelectors = () => selectors.value.split(',').map((s) => s.trim()).filter(Boolean)
  const preview = eligibilityPreview(() => ({ url: url.value.trim(), selectors: splitSelectors() }))
  url.addEventListener('input', () => preview.changed())
  selectors.addEventListener('input', () => preview.changed())
  preview.changed()

  const sync = () => {
    const m = radios.find((r) => r.checked)?.value
    secretField.hidden = m !== 'secret'
    refField.hidden = m !== 'ref'
    secretSelect.required = m === 'secret'
    ref.required = m === 'ref'
  }
  radios.forEach((r) => r.addEventListener('change', sync))
  sync()

  const form = h(
    'form.card.connector-form',
    { id: 'connector-form' },
    h('h2', {}, existing ? `Edit ${existing.name}` : 'New connector'),
    h('div.grid', {}, field('Display name', name), field('Registry URL', url, 'No scheme means https, except for localhost and 127.x, which mean http.'), field('Username', username, 'Leave empty for anonymous access.')),
    h(
      'fieldset.password',
      {},
      h('legend', {}, 'Password'),
      radios.map((r, i) => h('label.inline', {}, r, ['None', 'Secret in the manager', 'Delegate-side reference (env:/file:)'][i])),
      secretField,
      refField,
    ),
    h('div.grid', {}, field('Delegate selectors', selectors, 'Only delegates offering all of these run its tasks.'), field('Project', project, 'Limits which secrets it may use.')),
    field(
      'Health check',
      h('span.inline-field', {}, h('label.inline', {}, healthOn, 'Validate every'), interval, 'seconds'),
      'At least 30 s. Two failed checks in a row raise connector.failing on the alert webhook.',
    ),
    preview.panel,
    h('div.buttons', {}, h('button.primary', { type: 'submit' }, existing ? 'Save' : 'Create'), h('button', { type: 'button', onclick: onCancel }, 'Cancel')),
    status,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const m = radios.find((r) => r.checked)?.value
    const body = { name: name.value.trim(), type: 'docker-registry', url: url.value.trim() }
    if (username.value.trim()) body.username = username.value.trim()
    if (m === 'secret' && secretSelect.value) body.passwordSecretId = secretSelect.value
    if (m === 'ref' && ref.value.trim()) body.passwordRef = ref.value.trim()
    const sel = splitSelectors()
    if (sel.length) body.delegateSelectors = sel
    if (project.value.trim()) body.project = project.value.trim()
    if (healthOn.checked) body.healthCheck = { intervalSeconds: Number(interval.value) }
    replace(status, 'Saving…')
    try {
      const saved = existing ? await api('PUT', `/connectors/${encodeURIComponent(existing.id)}`, body) : await api('POST', '/connectors', body)
      replace(status)
      await onSaved(saved)
    } catch (err) {
      replace(status, errorBox(err))
    }
  })
  return form
}

function registryHost(url) {
  try {
    const host = new URL(url.includes('://') ? url : `https://${url}`).host
    return /(^|\.)docker\.io$/.test(host) ? 'docker.io' : host
  } catch {
    return url
  }
}

/** One connector: details, validate, edit, delete, and the image and tag browser. */
export async function connectorPage(root, { params, signal }) {
  const id = params[0]
  let c = await api('GET', `/connectors/${encodeURIComponent(id)}`, undefined, { signal })
  const { secrets } = await api('GET', '/secrets', undefined, { signal })
  const secretName = new Map(secrets.map((s) => [s.id, s.name]))

  const head = h('div')
  const validation = h('div.validation')
  const formHolder = h('div')
  const drawHead = () =>
    replace(
      head,
      h('div.page-head', {}, h('h1', {}, c.name), h('a.small', { href: '#/connectors' }, '← all connectors')),
      h(
        'dl.facts',
        {},
        h('dt', {}, 'URL'),
        h('dd', {}, h('code', {}, c.url)),
        h('dt', {}, 'Credentials'),
        h('dd', {}, authText(c, secretName)),
        h('dt', {}, 'Selectors'),
        h('dd', {}, selectorChips(c.delegateSelectors)),
        h('dt', {}, 'Project'),
        h('dd', {}, c.project ?? 'account'),
        h('dt', {}, 'Health check'),
        h('dd', {}, c.healthCheck ? `every ${c.healthCheck.intervalSeconds} s` : 'off'),
        h('dt', {}, 'ID'),
        h('dd', {}, h('code', {}, c.id)),
      ),
    )
  drawHead()

  const profileHolder = h('div')
  const validateButton = h('button.primary', { type: 'button', dataset: { action: 'validate' } }, 'Validate')
  validateButton.addEventListener('click', async () => {
    validateButton.disabled = true
    try {
      const task = await validateInto(validation, c, signal)
      if (task?.status === 'succeeded') replace(profileHolder, profileCard(task))
    } finally {
      validateButton.disabled = false
    }
  })
  const editButton = h('button', { type: 'button' }, 'Edit')
  editButton.addEventListener('click', () =>
    replace(
      formHolder,
      connectorForm(c, secrets, {
        onSaved: (saved) => {
          c = saved
          replace(formHolder)
          drawHead()
        },
        onCancel: () => replace(formHolder),
      }),
    ),
  )
  const remove = confirmButton('Delete', 'Really delete?', async () => {
    try {
      await api('DELETE', `/connectors/${encodeURIComponent(c.id)}`)
      location.hash = '#/connectors'
    } catch (err) {
      replace(validation, errorBox(err))
    }
  })

  // images
  const imagesStatus = h('div.status')
  const host = registryHost(c.url)
  const images = filteredList({ placeholder: 'Filter images', label: 'images', onPick: (image) => void listTags(image) })
  const imagesButton = h('button.small', { type: 'button' }, 'Refresh')
  async function listImages() {
    imagesButton.disabled = true
    try {
      const task = await runTask({ type: 'list-images', connectorId: c.id }, { signal, onUpdate: (t) => replace(imagesStatus, progress(t)) })
      if (task.status === 'succeeded') {
        replace(
          imagesStatus,
          task.result.truncated ? h('div.warn', {}, 'The registry stopped the listing early: this list is incomplete.') : null,
          skippedNote(task.result.skipped, 'repository names'),
        )
        images.setItems(task.result.images)
      } else replace(imagesStatus, errorBox(task.error ?? { code: 'EXPIRED', message: task.status }, taskLink(task, 'selection log')))
    } catch (err) {
      if (!signal.aborted) replace(imagesStatus, errorBox(err))
    } finally {
      imagesButton.disabled = false
    }
  }
  imagesButton.addEventListener('click', () => void listImages())

  // tags
  const imageInput = h('input', { name: 'image', placeholder: 'image, e.g. library/nginx', required: true })
  const tagsStatus = h('div.status')
  const tagsTitle = h('span')
  let currentImage = ''
  const tags = filteredList({
    placeholder: 'Filter tags',
    label: 'tags',
    renderRow: (tag) => [h('span.tag', {}, tag), copyButton(() => `${host}/${currentImage}:${tag}`, 'Copy ref')],
  })
  const tagsForm = h('form.inline-form', { id: 'tags-form' }, imageInput, h('button.small', { type: 'submit' }, 'List tags'))
  async function listTags(image) {
    imageInput.value = image
    currentImage = image
    replace(tagsTitle, ` of ${image}`)
    tags.setItems([])
    try {
      const task = await runTask({ type: 'list-tags', connectorId: c.id, image }, { signal, onUpdate: (t) => replace(tagsStatus, progress(t)) })
      if (task.status === 'succeeded') {
        replace(tagsStatus, task.result.truncated ? h('div.warn', {}, 'A guard stopped the listing: these are the tags read so far.') : null, skippedNote(task.result.skipped, 'tags'))
        tags.setItems(task.result.tags)
      } else replace(tagsStatus, errorBox(task.error ?? { code: 'EXPIRED', message: task.status }, taskLink(task, 'selection log')))
    } catch (err) {
      if (!signal.aborted) replace(tagsStatus, errorBox(err))
    }
  }
  tagsForm.addEventListener('submit', (event) => {
    event.preventDefault()
    if (imageInput.value.trim()) void listTags(imageInput.value.trim())
  })

  replace(
    root,
    head,
    h('div.buttons', {}, validateButton, editButton, remove),
    validation,
    formHolder,
    h('div.two-columns', {}, healthCard(c.id, signal), profileHolder),
    h(
      'section.browse',
      {},
      h('div.card.images', {}, h('div.card-head', {}, h('h2', {}, 'Images'), imagesButton), imagesStatus, images.el),
      h('div.card.tags', {}, h('div.card-head', {}, h('h2', {}, 'Tags', tagsTitle)), tagsForm, tagsStatus, tags.el),
    ),
  )
  latestValidation(c.id, signal).then(
    (task) => replace(profileHolder, profileCard(task)),
    (err) => void (signal.aborted || replace(profileHolder, errorBox(err))),
  )
  await listImages()
}
