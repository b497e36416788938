/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against a real
 * manager, delegate and registry. Screenshots of every page land in test-results/console/;
 * UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/console.png for the README.
 */
import { randomUUID } from 'node:crypto'
import { copyFile, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ANY_CONTROL } from '../../test/controls.ts'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { RegistryClient } from '../../delegate/src/registry/client.ts'
import { makePki, type Pki } from '../../delegate/test/registry-pki.ts'
import { freePort, startRegistry, type Started } from '../../test/containers.ts'
import { root, startTestDelegate, startTestManager, testLog, type TestManager } from '../../test/harness.ts'
import { seedRepository } from '../../test/seed-registry.ts'
import { startOtlpReceiver, type OtlpReceiver } from '../../test/otlp-receiver.ts'
import { startTracing, type Tracing } from '../../common/src/tracing.ts'
import { isPing, json, startFaultServer } from '../../delegate/test/fault-server.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SHOTS = join(root, 'test-results', 'console')
// a Jaeger UI on this machine, as an operator would configure it (the test never opens the link)
const TRACE_TEMPLATE = 'http://localhost:16686/trace/{traceId}'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

describe('web console', () => {
  let m: TestManager
  let browser: Browser
  let page: Page
  const delegates: Delegate[] = []
  const repo = `console-${randomUUID().slice(0, 8)}/app`
  const tags = Array.from({ length: 120 }, (_, i) => `1.${Math.floor(i / 10)}.${i % 10}`)
  let pki: Pki
  let tlsRegistry: Started
  let receiver: OtlpReceiver
  let tracing: Tracing

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: the console tests drive a real browser. Install it with "apt-get install -y chromium" (or set CHROMIUM_PATH).`)
    }
    pki = makePki()
    tlsRegistry = await startRegistry({
      env: { REGISTRY_HTTP_TLS_CERTIFICATE: '/etc/docker/registry/server.pem', REGISTRY_HTTP_TLS_KEY: '/etc/docker/registry/server.key' },
      files: { '/etc/docker/registry/server.pem': pki.serverCertPem, '/etc/docker/registry/server.key': pki.serverKeyPem },
    })
    // tracing on in this process (as main.ts does from OTEL_EXPORTER_OTLP_ENDPOINT), exporting to a receiver of ours
    receiver = await startOtlpReceiver()
    tracing = await startTracing(
      { url: `${receiver.url}/v1/traces`, protocol: 'http/json', headers: '', serviceName: 'console-test', resourceAttributes: '', sampler: 'parentbased_always_on', ratio: 1 },
      { version: 'test', instanceId: 'console-test' },
      { warn: () => undefined },
    )
    m = await startTestManager(inject('redisUrl'), { watchIntervalMs: 1_000, traceUrlTemplate: TRACE_TEMPLATE })
    const token = await m.api.token('console-test')
    // trusts the TLS registry's test CA (REGISTRY_CA_FILE)
    const runner = new RegistryClient({ log: testLog(), caFile: pki.caFile })
    delegates.push(await startTestDelegate(m.url, token, { name: 'eu-west-1', tags: ['eu', 'docker'], capacity: 4, runner }))
    await seedRepository(`http://${inject('registryHostPort')}`, repo, tags)
    await mkdir(SHOTS, { recursive: true })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    page = await browser.newPage({ viewport: { width: 1360, height: 860 } })
    page.setDefaultTimeout(20_000)
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    // "Failed to load resource" is Chromium reporting an API answer of 4xx, which some steps expect
    page.on('console', (msg) => void (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource') && errors.push(msg.text())))
    Object.assign(page, { errors })
  })
  afterAll(async () => {
    await browser?.close()
    await Promise.all(delegates.map((d) => d.close()))
    await m?.close()
    await tracing?.shutdown()
    await receiver?.close()
    await tlsRegistry?.container.stop()
    pki?.cleanup()
  })

  const shot = (name: string, fullPage = false) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage })
  /** With UPDATE_DOCS_SCREENSHOT=1 the README's pictures are refreshed from this run. */
  const toDocs = async (name: string, docsName: string) => {
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await copyFile(join(SHOTS, `${name}.png`), join(root, 'docs', docsName))
  }
  /** Opens a page; the same hash again renders it afresh (a hash change alone would not). */
  const go = async (hash: string) => {
    const url = `${m.url}/${hash}`
    if (page.url() === url) await page.reload()
    else await page.goto(url)
  }

  it('serves the console without the API key, its own files only, under a strict content security policy', async () => {
    const index = await request(`${m.url}/`)
    expect(index.statusCode).toBe(200)
    expect(index.headers['content-type']).toMatch(/^text\/html/)
    expect(index.headers['content-security-policy']).toMatch(/script-src 'self'/)
    expect(await index.body.text()).toContain('/console/app.js')
    for (const path of ['/console/nope.js', '/console/../src/app.ts', '/console/%2e%2e/src/app.ts', '/console/']) {
      const res = await request(`${m.url}${path}`)
      await res.body.dump()
      expect({ path, status: res.statusCode }).toEqual({ path, status: 404 })
    }
  })

  it('signs in with the API key kept in session storage, never in the URL', async () => {
    await go('')
    await page.locator('#sign-in').waitFor()
    await shot('sign-in')
    await page.fill('#sign-in input[name=apiKey]', 'wrong key')
    await page.click('#sign-in button[type=submit]')
    await page.locator('#sign-in .error-box[data-code=UNAUTHORIZED]').waitFor()
    await page.fill('#sign-in input[name=apiKey]', m.config.apiKey)
    await page.click('#sign-in button[type=submit]')
    await page.locator('h1', { hasText: 'Connectors' }).waitFor()
    expect(page.url()).not.toContain(m.config.apiKey)
    expect(await page.evaluate(() => Object.values(sessionStorage))).toContain(m.config.apiKey)
    expect(await page.evaluate(() => Object.values(localStorage))).not.toContain(m.config.apiKey)
  })

  it('creates a connector to the registry, validates it in place and lists its tags', async () => {
    await go('#/connectors')
    await page.click('#new-connector')
    await page.fill('#connector-form input[name=name]', 'local registry')
    await page.fill('#connector-form input[name=url]', inject('registryHostPort'))
    await page.fill('#connector-form input[name=delegateSelectors]', 'docker')
    await page.click('#connector-form button[type=submit]')
    const row = page.locator('tbody.connector[data-name="local registry"]')
    await row.waitFor()
    await row.locator('[data-action=validate]').click()
    // the outcome, not the progress badge shown while the task waits or runs
    const result = row.locator('.validation > [data-status]')
    await result.waitFor()
    expect(await result.getAttribute('data-status')).toBe('succeeded')
    expect(await result.textContent()).toContain('eu-west-1')
    await shot('connectors')

    await row.locator('a', { hasText: 'Browse' }).click()
    await page.locator(`.images .vlist-row[data-value="${repo}"]`).click()
    await page.locator('.tags .count', { hasText: `${tags.length} tags` }).waitFor()
    await page.fill('.tags input.filter', '1.11.')
    await page.locator('.tags .count', { hasText: `10 of ${tags.length} tags` }).waitFor()
    const shown = await page.locator('.tags .vlist-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-value')))
    expect(shown).toEqual(tags.filter((t) => t.includes('1.11.')).sort())
    await shot('connector-browse')
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await copyFile(join(SHOTS, 'connector-browse.png'), join(root, 'docs', 'console.png'))
  })

  it('previews, while the connector form is typed, which delegates could run its tasks and why not, and probes them', async () => {
    await go('#/connectors')
    await page.click('#new-connector')
    await page.fill('#connector-form input[name=url]', inject('registryHostPort'))
    await page.fill('#connector-form input[name=delegateSelectors]', 'docker, mars')
    const row = page.locator('#eligibility-preview tr[data-delegate="eu-west-1"]')
    await page.locator('#eligibility-preview tr[data-delegate="eu-west-1"][data-eligible="false"]').waitFor()
    expect(await row.textContent()).toContain('lacks mars')
    expect(await page.locator('#eligibility-preview .pick').textContent()).toMatch(/Nobody would take a task now: no connected delegate has selectors \[docker, mars\]/)
    await page.fill('#connector-form input[name=delegateSelectors]', 'docker')
    await page.locator('#eligibility-preview tr[data-delegate="eu-west-1"][data-eligible="true"]').waitFor()
    expect(await page.locator('#eligibility-preview .pick').textContent()).toMatch(/A task would go to eu-west-1/)
    await page.click('#eligibility-preview button', { timeout: 5_000 })
    await page.locator('#eligibility-preview tr[data-delegate="eu-west-1"] .badge.ok', { hasText: /\d+ ms/ }).waitFor()
    await page.locator('#eligibility-preview').scrollIntoViewIfNeeded()
    await shot('connector-eligibility')
    await toDocs('connector-eligibility', 'console-eligibility.png')
    await page.click('#connector-form .buttons button:has-text("Cancel")', { timeout: 5_000 })
  })

  it('shows a failed validation with its error code and hint in place', async () => {
    await m.api.ok('POST', '/api/v1/connectors', { name: 'closed port', type: 'docker-registry', url: '127.0.0.1:1' })
    await go('#/connectors')
    const row = page.locator('tbody.connector[data-name="closed port"]')
    await row.locator('[data-action=validate]').click()
    const box = row.locator('.validation .error-box')
    await box.waitFor()
    expect(await box.getAttribute('data-code')).toBe('DELEGATE_CANNOT_REACH_REGISTRY')
    expect(await box.locator('.hint').textContent()).toMatch(/registry's network/)
    await shot('connector-failed')

    // fix it in place: edit the URL, validate again
    await row.locator('button', { hasText: 'Edit' }).click()
    await page.fill('#connector-form input[name=url]', inject('registryHostPort'))
    await page.click('#connector-form button[type=submit]')
    const fixed = page.locator('tbody.connector[data-name="closed port"]')
    await fixed.locator('code', { hasText: inject('registryHostPort') }).waitFor()
    await fixed.locator('[data-action=validate]').click()
    await fixed.locator('.validation [data-status=succeeded]').waitFor()
  })

  it('keeps 10,000 tags responsive: only the rows in view are in the DOM, and the filter scans all', async () => {
    await go('#/connectors')
    await page.locator('h1', { hasText: 'Connectors' }).waitFor()
    // a string, not a function: vitest would rewrite a function's import() for Node
    const seen = await page.evaluate<{ before: { rows: number; count: string }; scrolled: string[]; count: string }>(`(async () => {
      const { filteredList } = await import('/console/virtual-list.js')
      const frame = () => new Promise(requestAnimationFrame)
      const list = filteredList({ label: 'tags' })
      document.querySelector('main').append(list.el)
      list.setItems(Array.from({ length: 10000 }, (_, i) => 'v' + i))
      await frame()
      const before = { rows: list.el.querySelectorAll('.vlist-row').length, count: list.el.querySelector('.count').textContent }
      list.el.querySelector('.vlist').scrollTop = 28 * 9000
      list.el.querySelector('.vlist').dispatchEvent(new Event('scroll'))
      await frame()
      const scrolled = [...list.el.querySelectorAll('.vlist-row')].map((r) => r.dataset.value)
      list.filter.value = '999'
      list.filter.dispatchEvent(new Event('input'))
      await frame()
      await frame()
      return { before, scrolled, count: list.el.querySelector('.count').textContent }
    })()`)
    expect(seen.before.count).toBe('10,000 tags')
    expect(seen.before.rows).toBeLessThan(60)
    expect(seen.scrolled).toContain('v9005')
    expect(seen.scrolled.length).toBeLessThan(60)
    const matching = Array.from({ length: 10_000 }, (_, i) => `v${i}`).filter((t) => t.includes('999')).length
    expect(seen.count).toBe(`${matching} of 10,000 tags`)
  })

  it('shows how many tags a registry listed outside the grammar, and no control character from names or messages', async () => {
    const registry = await startFaultServer((_req, res, url) =>
      isPing(url) ? json(res, 200, {}) : json(res, 200, { name: 'x', tags: ['1.0', '\u001b[31mred', 'ok\u202etxt.exe'] }),
    )
    try {
      const name = 'evil\u202eexe.gpj\u001b[2J'
      const c = await m.api.ok('POST', '/api/v1/connectors', { name, type: 'docker-registry', url: registry.url, delegateSelectors: ['docker'] })
      await go(`#/connectors/${c.id}`)
      await page.fill('#tags-form input[name=image]', 'team/x')
      await page.click('#tags-form button[type=submit]')
      const note = page.locator('.skipped')
      await note.waitFor()
      expect(await note.textContent()).toContain('2 tags that do not fit the distribution grammar')
      await page.locator('.tags .count', { hasText: '1 tags' }).waitFor()
      const text = await page.locator('main').textContent()
      expect(text).toContain('evil\\u202eexe.gpj\\x1b[2J')
      expect(text).not.toMatch(ANY_CONTROL)
    } finally {
      await registry.close()
    }
  })

  it('updates the selection log of a waiting task until a delegate takes it', async () => {
    const c = await m.api.ok<{ id: string }>('POST', '/api/v1/connectors', {
      name: 'needs gpu',
      type: 'docker-registry',
      url: inject('registryHostPort'),
      delegateSelectors: ['gpu'],
    })
    const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', { type: 'validate-connector', connectorId: c.id, timeoutMs: 60_000 })
    await go(`#/tasks/${id}`)
    await page.locator('ol.timeline li .message', { hasText: 'waiting' }).waitFor()
    expect(await page.locator('dl.facts [data-status]').getAttribute('data-status')).toBe('queued')
    await shot('task-waiting')
    delegates.push(await startTestDelegate(m.url, await m.api.token(), { name: 'gpu-1', tags: ['gpu'] }))
    await page.locator('ol.timeline li .message', { hasText: 'succeeded on gpu-1' }).waitFor()
    expect(await page.locator('dl.facts [data-status]').getAttribute('data-status')).toBe('succeeded')
    await shot('task')

    await go('#/tasks')
    const listed = page.locator(`tr[data-id="${id}"]`)
    await listed.waitFor()
    expect(await listed.getAttribute('data-status')).toBe('succeeded')
    expect(await listed.textContent()).toContain('gpu-1')
    await shot('tasks')
  })

  it("links a task's trace in the tracing UI that MANAGER_TRACE_URL_TEMPLATE names", async () => {
    const { connectors } = await m.api.ok<{ connectors: { id: string; name: string }[] }>('GET', '/api/v1/connectors')
    const local = connectors.find((c) => c.name === 'local registry')!
    const { id } = await m.api.ok<{ id: string }>('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: local.id, image: repo })
    const task = await m.api.ok<{ status: string; traceId: string; traceUrl: string }>('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(task.status).toBe('succeeded')
    expect(task.traceUrl).toBe(TRACE_TEMPLATE.replace('{traceId}', task.traceId))
    await go(`#/tasks/${id}`)
    const link = page.locator('dl.facts a.trace-link')
    await link.waitFor()
    expect(await link.getAttribute('href')).toBe(task.traceUrl)
    expect(await link.getAttribute('rel')).toContain('noopener')
    expect(await link.textContent()).toContain(task.traceId)
    await page.locator('dl.facts [data-status=succeeded]').waitFor()
    await shot('task-trace-link')
    await toDocs('task-trace-link', 'console-trace-link.png')
    // the trace it links to was exported, from the REST call down to the registry requests
    const until = Date.now() + 15_000
    while (!receiver.spans.some((s) => s.traceId === task.traceId && s.name === 'task.run')) {
      if (Date.now() > until) expect.fail('the linked trace was not exported')
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(receiver.spans.filter((s) => s.traceId === task.traceId && s.parentSpanId === '').map((s) => s.name)).toEqual(['POST /api/v1/tasks'])
  })

  it('lists delegates and picks up a newly connected one while the page is open', async () => {
    await go('#/delegates')
    await page.locator('tr[data-name="eu-west-1"][data-connected=true]').waitFor()
    delegates.push(await startTestDelegate(m.url, await m.api.token(), { name: 'us-east-1', tags: ['us', 'docker'] }))
    const row = page.locator('tr[data-name="us-east-1"][data-connected=true]')
    await row.waitFor()
    expect(await row.textContent()).toContain('0 / 8')
    await shot('delegates')
  })

  it('creates a secret and a delegate token (shown once, with the docker run snippet), then revokes it', async () => {
    await go('#/access')
    await page.fill('#secret-form input[name=name]', 'registry-password')
    await page.fill('#secret-form input[name=value]', 's3cr3t-value')
    await page.click('#secret-form button[type=submit]')
    await page.locator('tr[data-name="registry-password"]').waitFor()
    expect(await page.content()).not.toContain('s3cr3t-value')

    await page.fill('#token-form input[name=name]', 'eu-west')
    await page.click('#token-form button[type=submit]')
    const token = await page.locator('#new-token').inputValue()
    expect(token).toMatch(/^rdt_/)
    expect(await page.locator('.reveal pre').first().textContent()).toContain(`DELEGATE_TOKEN=${token}`)
    await shot('access')
    // the token works: a delegate connects with it
    delegates.push(await startTestDelegate(m.url, token, { name: 'with-new-token' }))

    const row = page.locator('tr[data-name="eu-west"]')
    await row.locator('button', { hasText: 'Revoke' }).click()
    await row.locator('button', { hasText: 'Really revoke?' }).click()
    await row.waitFor({ state: 'detached' })
    const left = await m.api.ok<{ tokens: { name: string }[] }>('GET', '/api/v1/delegate-tokens')
    expect(left.tokens.map((t) => t.name)).not.toContain('eu-west')

    // bound to one delegate name: the snippets use it, the list shows it
    await page.click('.reveal button', { timeout: 5_000 }).catch(() => undefined)
    await page.fill('#token-form input[name=name]', 'bound')
    await page.fill('#token-form input[name=delegateName]', 'eu-west-7')
    await page.click('#token-form button[type=submit]')
    await page.locator('#new-token').waitFor()
    expect(await page.locator('.reveal').textContent()).toContain('Bound to the delegate name eu-west-7')
    expect(await page.locator('.reveal pre').first().textContent()).toContain('DELEGATE_NAME=eu-west-7')
    expect(await page.locator('tr[data-name="bound"]').textContent()).toContain('eu-west-7')
  })

  it("shows a connector's health as a timeline of its checks and its registry's profile", async () => {
    const c = await m.api.ok<{ id: string }>('POST', '/api/v1/connectors', {
      name: 'secure registry',
      type: 'docker-registry',
      url: `https://127.0.0.1:${await freePort()}`,
      delegateSelectors: ['docker'],
      healthCheck: { intervalSeconds: 3600 },
    })
    // the scheduled check fails at once; two validations by hand fail too
    for (let i = 0; i < 2; i++) await m.api.ok('POST', `/api/v1/connectors/${c.id}/validate`)
    await go(`#/connectors/${c.id}`)
    const card = page.locator('section.health')
    await card.locator('.badge[data-state=failing]').waitFor()
    await card.locator('rect.check.failed >> nth=2').waitFor({ state: 'attached' })
    expect(await card.locator('.error-box').getAttribute('data-code')).toBe('DELEGATE_CANNOT_REACH_REGISTRY')
    expect(await page.locator('section.profile').getAttribute('data-empty')).toBe('true')

    // fix the URL and the interval in the form, then validate by hand
    await page.locator('button', { hasText: 'Edit' }).click()
    await page.fill('#connector-form input[name=url]', `https://${tlsRegistry.hostPort}`)
    expect(await page.isChecked('#connector-form input[name=healthCheck]')).toBe(true)
    await page.fill('#connector-form input[name=intervalSeconds]', '60')
    await page.click('#connector-form button[type=submit]')
    await page.locator('dl.facts dd', { hasText: 'every 60 s' }).waitFor()
    expect((await m.api.ok('GET', `/api/v1/connectors/${c.id}`)).healthCheck).toEqual({ intervalSeconds: 60 })
    for (let i = 0; i < 2; i++) {
      await page.click('[data-action=validate]')
      await page.locator('.validation [data-status=succeeded]').waitFor()
    }
    await card.locator('.badge[data-state=healthy]').waitFor()
    await card.locator('rect.check.succeeded >> nth=2').waitFor({ state: 'attached' })
    expect(await card.locator('rect.check.failed').count()).toBe(3)
    const profile = page.locator('section.profile')
    await profile.locator('dd[data-fact=TLS]', { hasText: 'TLSv1.3' }).waitFor()
    expect(await profile.locator('dd[data-fact=TLS]').textContent()).toMatch(/registry-delegates test CA.*in 1 day/)
    expect(await profile.locator('dd[data-fact=TLS] .warn-text').count()).toBe(1)
    expect(await profile.locator('dd[data-fact=Catalog]').textContent()).toBe('supported')
    expect(await profile.locator('dd[data-fact="Anonymous pulls"]').textContent()).toBe('allowed')
    await page.locator('section.health').scrollIntoViewIfNeeded()
    await shot('connector-health')
    await toDocs('connector-health', 'console-connector-health.png')
  })

  it('draws tasks per minute, duration percentiles and each delegate’s load over the last hour', async () => {
    await go('#/activity')
    await page.locator('.tasks-chart rect.bar >> nth=0').waitFor({ state: 'attached' })
    await page.locator('.percentiles-chart g.line.p50 path').waitFor({ state: 'attached' })
    expect(await page.locator('.tasks-chart figcaption').textContent()).toMatch(/^\d+ tasks ended in the last hour$/)
    const rows = await page.locator('table.window tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-series')))
    expect(rows).toEqual(expect.arrayContaining(['validate-connector|succeeded', 'validate-connector|failed']))
    await page.locator('.delegate-chart[data-name="eu-west-1"] g.line.load-avg path').waitFor({ state: 'attached' })
    expect(await page.locator('.delegate-chart[data-name="eu-west-1"] h3').textContent()).toContain('capacity 4')
    // choosing a type redraws the bars with that type only
    const all = await page.locator('.tasks-chart rect.bar').count()
    await page.selectOption('.tasks-per-minute select[name=type]', 'list-tags')
    await page.locator('.tasks-chart figcaption', { hasText: '(list-tags)' }).waitFor()
    expect(await page.locator('.tasks-chart rect.bar').count()).toBeLessThanOrEqual(all)
    await page.selectOption('.tasks-per-minute select[name=type]', '')
    await shot('activity', true)
    await toDocs('activity', 'console-activity.png')
  })

  it('raised no script error on any page', () => {
    expect((page as Page & { errors: string[] }).errors).toEqual([])
  })
})
