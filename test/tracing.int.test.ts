/**
 * Traces end to end (issue 15), real processes: managers and a delegate from their sources with
 * the standard OTEL_* variables pointing at an OTLP/HTTP receiver of our own (JSON), real Redis,
 * a registry that wants a password (Bearer token flow, tags over several pages). One task yields
 * one trace: every span's parent is in it, one root, the registry requests are children of the
 * delegate's task span, and no secret is in anything that was exported.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { startAuthRegistry, type AuthRegistry } from './auth-registry.ts'
import { freePort } from './containers.ts'
import { Api, managerConfig, spawnDelegate, spawnManager, type Proc } from './harness.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts'
import { waitFor } from './wait-for.ts'

const procs: Proc[] = []
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')))
})
afterAll(async () => {
  for (const close of closers.splice(0)) await close()
})

const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 }
const TEMPLATE = 'http://jaeger.invalid:16686/trace/{traceId}'

function otelEnv(receiver: OtlpReceiver, service: string): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: service }
}

/** Waits (bounded) until the trace holds spans for which `done` says yes, then returns them all. */
async function trace(receiver: OtlpReceiver, traceId: string, done: (spans: ReceivedSpan[]) => boolean, ms = 20_000): Promise<ReceivedSpan[]> {
  const spansOf = () => receiver.spans.filter((s) => s.traceId === traceId)
  return waitFor(
    () => {
      const spans = spansOf()
      return done(spans) ? spans : false
    },
    { timeoutMs: ms, intervalMs: 100, what: `trace ${traceId} to be complete`, describe: () => spansOf().map((s) => `${s.service}:${s.name}`).join(', ') || 'no span' },
  )
}

function expectOneTree(spans: ReceivedSpan[]): ReceivedSpan {
  const ids = new Set(spans.map((s) => s.spanId))
  expect(ids.size).toBe(spans.length)
  const roots = spans.filter((s) => s.parentSpanId === '')
  expect(roots.map((s) => s.name)).toHaveLength(1)
  for (const s of spans) if (s.parentSpanId !== '') expect(ids, `parent of ${s.service}:${s.name}`).toContain(s.parentSpanId)
  return roots[0]!
}

const one = (spans: ReceivedSpan[], pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
  const found = spans.filter(pred)
  expect(found, what).toHaveLength(1)
  return found[0]!
}

describe('traces', () => {
  let registry: AuthRegistry
  let receiver: OtlpReceiver
  const password = `reg-pw-${randomUUID()}`
  const tags = Array.from({ length: 5 }, (_, i) => `1.${i}`)

  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    closers.push(() => receiver.close())
    registry = await startAuthRegistry({ scheme: 'bearer', username: 'robot', password, tags, pageSize: 2 })
    closers.push(() => registry.close())
  })

  it('one task, one trace: REST, queue, placement, the delegate and every registry request, parents intact, no secret', async () => {
    const config = managerConfig(inject('redisUrl'), { traceUrlTemplate: TEMPLATE })
    const manager = await spawnManager(config, { env: otelEnv(receiver, 'manager-under-test') })
    procs.push(manager)
    const api = new Api(manager.url, config.apiKey)
    const token = await api.token()
    procs.push(await spawnDelegate(manager.url, token, { name: 'traced', env: otelEnv(receiver, 'delegate-under-test') }))

    const secret = await api.ok('POST', '/api/v1/secrets', { name: 'registry password', value: password })
    const connector = await api.ok('POST', '/api/v1/connectors', {
      name: 'private',
      type: 'docker-registry',
      url: registry.hostPort,
      username: 'robot',
      passwordSecretId: secret.id,
    })
    const { id } = await api.ok('POST', '/api/v1/tasks', { type: 'list-tags', connectorId: connector.id, image: 'team/app' })
    const task = await api.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(task.status).toBe('succeeded')
    expect(task.result.tags).toEqual(tags)
    expect(task.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(task.traceUrl).toBe(`http://jaeger.invalid:16686/trace/${task.traceId}`)
    // the password really went to the registry (it issued its token for it)
    expect(registry.seenAuthorization).toContain(`Bearer ${registry.issuedToken}`)

    const spans = await trace(
      receiver,
      task.traceId,
      (s) => s.some((x) => x.name === 'task.run' && x.service === 'delegate-under-test') && s.some((x) => x.name === 'task.stint' && x.attributes['rd.task.outcome'] === 'succeeded'),
    )
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['manager-under-test', 'delegate-under-test']))
    const root = expectOneTree(spans)
    expect(root).toMatchObject({ name: 'POST /api/v1/tasks', kind: SPAN_KIND.server, service: 'manager-under-test' })
    expect(root.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/v1/tasks', 'http.response.status_code': 202, 'rd.task.id': id })

    const byId = new Map(spans.map((s) => [s.spanId, s]))
    const parent = (s: ReceivedSpan) => byId.get(s.parentSpanId)
    const queued = one(spans, (s) => s.name === 'task.queued', 'the queue wait')
    const stint = one(spans, (s) => s.name === 'task.stint', 'the stint')
    expect(parent(queued)).toBe(root)
    expect(parent(stint)).toBe(root)
    expect(queued.endMs).toBeLessThanOrEqual(stint.startMs + 1)
    expect(stint.attributes).toMatchObject({ 'rd.task.outcome': 'succeeded', 'rd.task.attempts': 1 })
    expect(stint.events.some((e) => e.endsWith('picked traced'))).toBe(true)

    const attempt = one(spans, (s) => s.name === 'task.attempt', 'the attempt')
    expect(parent(attempt)).toBe(stint)
    expect(attempt.kind).toBe(SPAN_KIND.producer)
    expect(attempt.attributes).toMatchObject({ 'rd.delegate.name': 'traced', 'rd.placement.via': 'round-robin', 'rd.placement.eligible': 1, 'rd.placement.handover': false, 'rd.attempt.outcome': 'succeeded' })

    const run = one(spans, (s) => s.name === 'task.run', "the delegate's task")
    expect(run).toMatchObject({ service: 'delegate-under-test', kind: SPAN_KIND.consumer })
    expect(parent(run)).toBe(attempt)
    expect(run.attributes).toMatchObject({ 'rd.task.id': id, 'rd.task.type': 'list-tags', 'rd.task.outcome': 'succeeded' })

    const requests = spans.filter((s) => s.kind === SPAN_KIND.client)
    // tags page 1 (401), the token, pages 1–3 with it
    expect(requests.length).toBeGreaterThanOrEqual(5)
    for (const r of requests) {
      expect(parent(r), `${r.name} ${String(r.attributes['url.path'])}`).toBe(run)
      expect(r.attributes).toMatchObject({ 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': Number(registry.hostPort.split(':')[1]) })
      expect(typeof r.attributes['http.response.status_code']).toBe('number')
    }
    const pages = requests.filter((r) => r.attributes['url.path'] === '/v2/team/app/tags/list' && r.attributes['http.response.status_code'] === 200)
    expect(pages.map((r) => r.attributes['rd.registry.page']).sort()).toEqual([1, 2, 3])
    expect(requests.some((r) => r.attributes['url.path'] === '/token' && r.attributes['http.response.status_code'] === 200)).toBe(true)
    expect(requests.every((r) => r.startMs >= run.startMs && r.endMs <= run.endMs + 1)).toBe(true)

    // what left the processes: every span, attribute, event and resource of every export
    const exported = receiver.bodies.join('\n')
    for (const value of [password, config.apiKey, config.secretsKey, token, registry.issuedToken, Buffer.from(`robot:${password}`).toString('base64')]) {
      expect(exported.includes(value), 'a secret was exported').toBe(false)
    }
    expect(exported).not.toMatch(/authorization/i)
    expect(receiver.refused).toBe(0)
  }, 90_000)

  it('a task handed over to another replica continues the same trace there, and the delegate continues it from the owner', async () => {
    const base = managerConfig(inject('redisUrl'), { heartbeatTimeoutMs: 10_000, heartbeatIntervalMs: 500 })
    const [portA, portB] = await Promise.all([freePort(), freePort()])
    const a = await spawnManager({ ...base, port: portA }, { env: otelEnv(receiver, 'manager-under-test') })
    const b = await spawnManager({ ...base, port: portB }, { env: otelEnv(receiver, 'manager-under-test') })
    procs.push(a, b)
    const [apiA, apiB] = [new Api(a.url, base.apiKey), new Api(b.url, base.apiKey)]
    procs.push(await spawnDelegate(a.url, await apiA.token(), { name: 'on-a', env: otelEnv(receiver, 'delegate-under-test') }))
    await apiB.waitForDelegates(1)
    const connector = await apiB.ok('POST', '/api/v1/connectors', { name: 'anon', type: 'docker-registry', url: inject('registryHostPort') })

    // A (the delegate's replica) holds still, so B's worker takes the task and hands it over
    a.child.kill('SIGSTOP')
    let id: string
    try {
      ;({ id } = await apiB.ok('POST', '/api/v1/tasks', { type: 'validate-connector', connectorId: connector.id }))
      await apiB.waitForStatus(id, 'running')
    } finally {
      a.child.kill('SIGCONT')
    }
    const task = await apiB.ok('GET', `/api/v1/tasks/${id}?waitMs=20000`)
    expect(task.status).toBe('succeeded')

    const spans = await trace(receiver, task.traceId, (s) => s.some((x) => x.name === 'task.run') && s.some((x) => x.name === 'task.stint' && x.attributes['rd.task.outcome'] === 'succeeded'))
    expectOneTree(spans)
    const byId = new Map(spans.map((s) => [s.spanId, s]))
    const attempt = one(spans, (s) => s.name === 'task.attempt', 'the attempt')
    const handover = one(spans, (s) => s.name === 'task.handover', 'the hand-over')
    const run = one(spans, (s) => s.name === 'task.run', "the delegate's task")
    expect(attempt.attributes).toMatchObject({ 'rd.placement.handover': true, 'rd.delegate.name': 'on-a' })
    expect(handover.kind).toBe(SPAN_KIND.consumer)
    expect(byId.get(handover.parentSpanId)).toBe(attempt)
    expect(handover.instance).not.toBe(attempt.instance)
    expect(handover.attributes).toMatchObject({ 'rd.handover.outcome': 'assigned', 'rd.delegate.name': 'on-a' })
    expect(byId.get(run.parentSpanId)).toBe(handover)
  }, 90_000)
})
