// Secrets (encrypted passwords for connectors) and delegate tokens (shown once, with the
// snippets that start a delegate with them).
import { api } from '../api.js'
import { confirmButton, copyButton, errorBox, field, h, replace, time } from '../dom.js'

/** The delegate image the snippets start; the one deploy/ builds and publishes. */
const DELEGATE_IMAGE = 'registry-delegates/delegate:latest'

export async function accessPage(root, { signal }) {
  const secrets = h('section.card')
  const tokens = h('section.card')
  replace(root, h('div.page-head', {}, h('h1', {}, 'Secrets & delegate tokens')), h('div.two-columns', {}, secrets, tokens))
  await Promise.all([secretsSection(secrets, signal), tokensSection(tokens, signal)])
}

async function secretsSection(root, signal) {
  const name = h('input', { name: 'name', required: true, maxLength: 200, autocomplete: 'off' })
  const value = h('input', { name: 'value', type: 'password', required: true, autocomplete: 'new-password' })
  const project = h('input', { name: 'project', placeholder: 'empty: every connector may use it' })
  const status = h('div.status')
  const list = h('div')
  const form = h(
    'form.stack',
    { id: 'secret-form' },
    h('div.grid', {}, field('Name', name), field('Value', value, 'Encrypted at rest; never shown again.'), field('Project', project)),
    h('div.buttons', {}, h('button.primary', { type: 'submit' }, 'Create secret')),
    status,
  )
  replace(root, h('h2', {}, 'Secrets'), h('p.muted', {}, 'Passwords and access tokens that connectors use to log in to registries.'), form, list)

  async function load() {
    const { secrets } = await api('GET', '/secrets', undefined, { signal })
    const rows = secrets.map((s) => {
      const problem = h('div')
      const remove = confirmButton('Delete', 'Really delete?', async () => {
        try {
          await api('DELETE', `/secrets/${encodeURIComponent(s.id)}`)
          await load()
        } catch (err) {
          replace(problem, errorBox(err))
        }
      })
      return h(
        'tr',
        { dataset: { id: s.id, name: s.name } },
        h('td', {}, h('strong', {}, s.name), h('div.muted.small', {}, s.id), problem),
        h('td', {}, s.project ?? h('span.muted', {}, 'account')),
        h('td', {}, time(s.createdAt)),
        h('td.actions', {}, remove),
      )
    })
    replace(list, tableOf(['Name', 'Project', 'Created', ''], rows, 'No secret yet.'))
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const body = { name: name.value.trim(), value: value.value }
    if (project.value.trim()) body.project = project.value.trim()
    try {
      await api('POST', '/secrets', body)
      form.reset()
      replace(status)
      await load()
    } catch (err) {
      replace(status, errorBox(err))
    }
  })
  await load()
}

async function tokensSection(root, signal) {
  const name = h('input', { name: 'name', required: true, maxLength: 200, placeholder: 'e.g. eu-west-delegates', autocomplete: 'off' })
  const delegateName = h('input', { name: 'delegateName', maxLength: 253, placeholder: 'empty: any name', autocomplete: 'off' })
  const status = h('div.status')
  const reveal = h('div')
  const list = h('div')
  const form = h(
    'form.stack',
    { id: 'token-form' },
    h(
      'div.grid',
      {},
      field('Name', name, 'Delegates started with the token connect as this; revoke it to cut them off.'),
      field('Delegate name', delegateName, 'Binds the token to one DELEGATE_NAME: it cannot connect as any other, and no other token can take that name from it.'),
    ),
    h('div.buttons', {}, h('button.primary', { type: 'submit' }, 'Create token')),
    status,
  )
  replace(root, h('h2', {}, 'Delegate tokens'), h('p.muted', {}, 'A delegate authenticates to the manager with one of these.'), form, reveal, list)

  async function load() {
    const { tokens } = await api('GET', '/delegate-tokens', undefined, { signal })
    const rows = tokens.map((t) => {
      const problem = h('div')
      const revoke = confirmButton('Revoke', 'Really revoke?', async () => {
        try {
          await api('DELETE', `/delegate-tokens/${encodeURIComponent(t.id)}`)
          await load()
        } catch (err) {
          replace(problem, errorBox(err))
        }
      })
      return h(
        'tr',
        { dataset: { id: t.id, name: t.name } },
        h('td', {}, h('strong', {}, t.name), h('div.muted.small', {}, t.id), problem),
        h('td', {}, t.delegateName ?? h('span.muted', {}, 'any')),
        h('td', {}, time(t.createdAt)),
        h('td.actions', {}, revoke),
      )
    })
    replace(list, tableOf(['Name', 'Delegate name', 'Created', ''], rows, 'No token yet.'))
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      const body = { name: name.value.trim() }
      if (delegateName.value.trim()) body.delegateName = delegateName.value.trim()
      const created = await api('POST', '/delegate-tokens', body)
      form.reset()
      replace(status)
      replace(reveal, tokenReveal(created, () => replace(reveal)))
      await load()
    } catch (err) {
      replace(status, errorBox(err))
    }
  })
  await load()
}

function tableOf(headers, rows, empty) {
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.length ? rows : h('tr.empty', {}, h('td', { colSpan: headers.length }, empty))),
  )
}

function tokenReveal({ name, token, delegateName }, onDone) {
  const managerUrl = location.origin
  const dnsName = (delegateName ?? name).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'delegate'
  // a bound token connects as exactly its name; otherwise each pod connects under its own name
  const k8sName = delegateName
    ? `            - { name: DELEGATE_NAME, value: ${JSON.stringify(delegateName)} }`
    : `            - name: DELEGATE_NAME
              valueFrom: { fieldRef: { fieldPath: metadata.name } }`
  const docker = [
    `docker run -d --name registry-delegate-${dnsName} --restart unless-stopped \\`,
    `  -e MANAGER_URL=${managerUrl} \\`,
    `  -e DELEGATE_TOKEN=${token} \\`,
    `  -e DELEGATE_NAME=${delegateName ?? dnsName} \\`,
    `  -e DELEGATE_TAGS= \\`,
    `  ${DELEGATE_IMAGE}`,
  ].join('\n')
  const k8s = `apiVersion: v1
kind: Secret
metadata:
  name: registry-delegate-${dnsName}
stringData:
  DELEGATE_TOKEN: ${token}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: registry-delegate-${dnsName}
spec:
  replicas: 1
  selector:
    matchLabels: { app: registry-delegate-${dnsName} }
  template:
    metadata:
      labels: { app: registry-delegate-${dnsName} }
    spec:
      terminationGracePeriodSeconds: 60
      containers:
        - name: delegate
          image: ${DELEGATE_IMAGE}
          env:
            - { name: MANAGER_URL, value: "${managerUrl}" }
            - { name: DELEGATE_TAGS, value: "" }
${k8sName}
            - name: DELEGATE_TOKEN
              valueFrom: { secretKeyRef: { name: registry-delegate-${dnsName}, key: DELEGATE_TOKEN } }
`
  const tokenInput = h('input.token', { readOnly: true, value: token, 'aria-label': 'delegate token', id: 'new-token' })
  tokenInput.addEventListener('focus', () => tokenInput.select())
  const snippet = (title, text) => h('details', { open: title === 'docker run' }, h('summary', {}, title), h('div.snippet', {}, copyButton(text), h('pre', {}, text)))
  return h(
    'div.reveal',
    { role: 'status' },
    h('h3', {}, `Token “${name}” created`),
    delegateName ? h('p', {}, `Bound to the delegate name ${delegateName}: start exactly one delegate with DELEGATE_NAME=${delegateName}.`) : null,
    h('p.warn', {}, 'Copy it now: it is shown only once and stored only as a hash.'),
    h('div.inline-form', {}, tokenInput, copyButton(token)),
    snippet('docker run', docker),
    snippet('Kubernetes', k8s),
    h('div.buttons', {}, h('button.small', { type: 'button', onclick: onDone }, 'I have copied it')),
  )
}
