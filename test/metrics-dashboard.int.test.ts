/**
 * The delegate's own /metrics (on DELEGATE_HEALTH_PORT), and the Grafana dashboard against what a
 * running manager and delegate really export: real processes from their sources, real Redis and
 * registry. Every expression of deploy/grafana/registry-delegates.json must parse (promtool) and
 * name only series found by scraping both; installation-wide gauges are never summed over replicas.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { freePort } from './containers.ts'
import { Api, managerConfig, root, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { seedRepository } from './seed-registry.ts'

const run = promisify(execFile)

async function scrape(url: string): Promise<string> {
  const res = await request(url)
  expect(res.statusCode).toBe(200)
  expect(String(res.headers['content-type'])).toMatch(/^text\/plain/)
  return res.body.text()
}

/** sample name (with _bucket, _sum, _count) → the label sets and values of its samples */
function samples(text: string): Map<string, { labels: string; value: number }[]> {
  const out = new Map<string, { labels: string; value: number }[]>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (!m) continue
    const list = out.get(m[1]!) ?? []
    list.push({ labels: m[2] ?? '', value: Number(m[3]) })
    out.set(m[1]!, list)
  }
  return out
}

const value = (s: Map<string, { labels: string; value: number }[]>, name: string, labels: Record<string, string> = {}): number | undefined =>
  s.get(name)?.find((x) => Object.entries(labels).every(([k, v]) => x.labels.includes(`${k}="${v}"`)))?.value

describe('metrics of both processes, and the dashboard on them', () => {
  let manager: Proc & { url: string }
  let delegate: Proc
  let api: Api
  let healthPort: number
  const repo = `metrics-${Date.now()}/app`

  beforeAll(async () => {
    const config = managerConfig(inject('redisUrl'), { watchIntervalMs: 1_000 })
    manager = await spawnManager(config)
    api = new Api(manager.url, config.apiKey)
    healthPort = await freePort()
    delegate = await spawnDelegate(manager.url, await api.token(), {
      name: 'scraped',
      tags: ['docker'],
      env: { DELEGATE_HEALTH_PORT: String(healthPort), DELEGATE_HEALTH_HOST: '127.0.0.1' },
    })
    await seedRepository(`http://${inject('registryHostPort')}`, repo, ['1.0', '2.0'])
    const ok = await api.ok('POST', '/api/v1/connectors', { name: 'ok', type: 'docker-registry', url: inject('registryHostPort'), healthCheck: { intervalSeconds: 30 } })
    const closed = await api.ok('POST', '/api/v1/connectors', { name: 'closed', type: 'docker-registry', url: `127.0.0.1:${await freePort()}` })
    const unknown = await api.ok('GET', `/api/v1/connectors/${ok.id}/tags?image=${encodeURIComponent(`${repo}-missing`)}`).catch(() => null)
    expect(unknown).toBeNull() // NAME_UNKNOWN: a failed task on the delegate
    expect((await api.ok('GET', `/api/v1/connectors/${ok.id}/tags?image=${encodeURIComponent(repo)}`)).tags).toEqual(['1.0', '2.0'])
    expect((await api.ok('POST', `/api/v1/connectors/${closed.id}/validate`)).error.code).toBe('DELEGATE_CANNOT_REACH_REGISTRY')
    // one task that waits: nobody has this selector
    await api.ok('POST', '/api/v1/tasks', { type: 'validate-connector', connectorId: ok.id, delegateSelectors: ['nobody-has-this'], timeoutMs: 120_000 })
    // the health check of `ok` has run
    const until = Date.now() + 20_000
    while ((await api.ok('GET', `/api/v1/connectors/${ok.id}/health`)).state === 'unknown') {
      if (Date.now() > until) expect.fail('no health check ran')
      await sleep(200)
    }
  }, 120_000)
  afterAll(async () => {
    await Promise.all([delegate?.stop('SIGKILL'), manager?.stop('SIGKILL')])
  })

  it('the delegate counts its tasks by type and outcome, times registry requests by host and status, and says it is connected', async () => {
    const d = samples(await scrape(`http://127.0.0.1:${healthPort}/metrics`))
    expect(value(d, 'rd_delegate_tasks_total', { type: 'list-tags', outcome: 'succeeded' })).toBe(1)
    expect(value(d, 'rd_delegate_tasks_total', { type: 'list-tags', outcome: 'failed' })).toBe(1)
    expect(value(d, 'rd_delegate_task_errors_total', { type: 'list-tags', code: 'NAME_UNKNOWN' })).toBe(1)
    expect(value(d, 'rd_delegate_tasks_total', { type: 'validate-connector', outcome: 'failed' })).toBeGreaterThanOrEqual(1)
    const registry = inject('registryHostPort')
    expect(value(d, 'rd_delegate_registry_request_duration_seconds_count', { host: registry, status: '200' })).toBeGreaterThanOrEqual(1)
    expect(value(d, 'rd_delegate_registry_request_duration_seconds_count', { host: registry, status: '404' })).toBeGreaterThanOrEqual(1)
    expect(value(d, 'rd_delegate_registry_request_duration_seconds_count', { status: 'error' })).toBeGreaterThanOrEqual(1)
    expect(value(d, 'rd_delegate_connected')).toBe(1)
    expect(value(d, 'rd_delegate_capacity')).toBe(8)
    expect(value(d, 'rd_delegate_reconnects_total')).toBe(0)
    // the health answer is where it was
    const health = await request(`http://127.0.0.1:${healthPort}/`)
    expect(health.statusCode).toBe(200)
    expect(await health.body.json()).toMatchObject({ state: 'open' })
  })

  it('every dashboard expression parses and names only series the running manager and delegate export; installation-wide gauges are never summed', async () => {
    const exported = new Set([...samples(await scrape(`${manager.url}/metrics`)).keys(), ...samples(await scrape(`http://127.0.0.1:${healthPort}/metrics`)).keys()])
    const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/registry-delegates.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[]
    }
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })))
    expect(exprs.length).toBeGreaterThan(10)
    for (const { panel, expr } of exprs) {
      const names = [...expr.matchAll(/\b(?:rd|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])
      expect(names.length, `${panel}: ${expr} names no metric`).toBeGreaterThan(0)
      for (const name of names) expect(exported, `${panel}: ${name}`).toContain(name)
      // every replica reports these for the whole installation (read from Redis on scrape)
      if (/rd_(queue_depth|tasks_waiting_for_delegate|connector_up|connector_check_duration_seconds|selector_set_delegates)\b/.test(expr)) expect(expr, panel).not.toMatch(/\bsum\b/)
    }
    for (const wanted of ['rd_tasks_total', 'rd_task_duration_seconds_bucket', 'rd_queue_depth', 'rd_tasks_waiting_for_delegate', 'rd_connected_delegates', 'rd_placement_delay_seconds_bucket', 'rd_task_errors_total', 'rd_connector_up', 'rd_delegate_tasks_total', 'rd_delegate_registry_request_duration_seconds_bucket', 'rd_delegate_reconnects_total']) {
      expect(exprs.some((e) => e.expr.includes(wanted)), `a panel on ${wanted}`).toBe(true)
    }
    // PromQL syntax, by promtool: each expression as a recording rule (Grafana's variables filled in)
    const dir = mkdtempSync(join(tmpdir(), 'rd-dashboard-'))
    const rules = exprs.map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(e.expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m'))}`)
    writeFileSync(join(dir, 'rules.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`)
    const { stdout } = await run(process.env.PROMTOOL_PATH ?? 'promtool', ['check', 'rules', join(dir, 'rules.yml')])
    expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`)
  })

  it('the delegate counts its reconnects and says it is not connected when its manager is gone', async () => {
    await manager.stop('SIGKILL')
    const until = Date.now() + 20_000
    for (;;) {
      const d = samples(await scrape(`http://127.0.0.1:${healthPort}/metrics`))
      if ((value(d, 'rd_delegate_reconnects_total') ?? 0) >= 1) {
        expect(value(d, 'rd_delegate_connected')).toBe(0)
        break
      }
      if (Date.now() > until) expect.fail(`no reconnect counted: ${String(value(d, 'rd_delegate_reconnects_total'))}`)
      await sleep(100)
    }
  })
})
