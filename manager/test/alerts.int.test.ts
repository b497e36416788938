/**
 * Alert webhooks (SPEC §8) with three manager replicas on one Redis, real delegates and real
 * registries (one of them TLS with a certificate that ends in two days): a receiver in the test
 * gets each of the five events once, signed with HMAC-SHA256, after answering 500 to the first
 * attempt of each; no payload carries a secret.
 */
import { createHmac, randomUUID } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Delegate } from '../../delegate/src/delegate.ts'
import { RegistryClient } from '../../delegate/src/registry/client.ts'
import { makePki, type Pki } from '../../delegate/test/registry-pki.ts'
import { freePort, startRegistry, type Started } from '../../test/containers.ts'
import { startTestDelegate, startTestManager, testLog, type TestManager } from '../../test/harness.ts'
import { waitFor } from '../../test/wait-for.ts'
import { ALERTS_QUEUE, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER } from '../src/alerts.ts'
import { redisKeys } from '../src/redis-keys.ts'

interface Delivery {
  headers: IncomingHttpHeaders
  body: string
  answered: number
}

describe('alert webhook', () => {
  const deliveries: Delivery[] = []
  const webhookSecret = `whsec-${randomUUID()}`
  const password = `tls-registry-password-${randomUUID()}`
  const prefix = `al-${randomUUID().slice(0, 8)}`
  const apiKey = `key-${randomUUID()}`
  const secretsKey = Buffer.from(randomUUID().replace(/-/g, '')).toString('base64')
  let receiver: ReturnType<typeof createServer>
  let managers: TestManager[] = []
  const delegates: Delegate[] = []
  let pki: Pki
  let tlsRegistry: Started

  beforeAll(async () => {
    // answers 500 to the first attempt of each delivery, 200 afterwards
    receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        const id = String(req.headers[DELIVERY_HEADER])
        const answered = deliveries.some((d) => d.headers[DELIVERY_HEADER] === id) ? 200 : 500
        deliveries.push({ headers: req.headers, body, answered })
        res.writeHead(answered).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/rd?token=url-token-${randomUUID()}`

    pki = makePki()
    tlsRegistry = await startRegistry({
      env: { REGISTRY_HTTP_TLS_CERTIFICATE: '/etc/docker/registry/server.pem', REGISTRY_HTTP_TLS_KEY: '/etc/docker/registry/server.key' },
      files: { '/etc/docker/registry/server.pem': pki.serverCertPem, '/etc/docker/registry/server.key': pki.serverKeyPem },
    })
    const shared = { queuePrefix: prefix, apiKey, secretsKey, watchIntervalMs: 500, alertWebhookUrl: webhook, alertWebhookSecret: webhookSecret }
    managers = await Promise.all([1, 2, 3].map(() => startTestManager(inject('redisUrl'), shared)))
    const token = await managers[0]!.api.token()
    for (const [i, name] of ['alert-a', 'alert-b'].entries()) {
      const runner = new RegistryClient({ log: testLog(), caFile: pki.caFile })
      delegates.push(await startTestDelegate(managers[i]!.url, token, { name, tags: ['docker'], runner }))
    }
    await managers[2]!.api.waitForDelegates(2)
  }, 120_000)
  afterAll(async () => {
    await Promise.all(delegates.map((d) => d.close()))
    await Promise.all(managers.map((m) => m.close()))
    await new Promise((resolve) => receiver?.close(resolve))
    await tlsRegistry?.container.stop()
    pki?.cleanup()
  })

  const accepted = (type: string) => deliveries.filter((d) => d.answered === 200 && d.headers[EVENT_HEADER] === type)
  async function waitForEvent(type: string, ms = 30_000): Promise<any> {
    const first = await waitFor(() => accepted(type)[0], {
      timeoutMs: ms,
      intervalMs: 50,
      what: `a ${type} delivery`,
      describe: () => deliveries.map((d) => `${String(d.headers[EVENT_HEADER])}:${d.answered}`).join(', '),
    })
    return JSON.parse(first.body)
  }

  it('delivers each event once across three replicas, retried after a 500, signed, without secrets', async () => {
    const [a, b, c] = managers.map((m) => m.api) as [TestManager['api'], TestManager['api'], TestManager['api']]
    const registry = inject('registryHostPort')

    // connector.failing: the scheduled check fails at once, a validation by hand fails again
    const broken = await a.ok('POST', '/api/v1/connectors', {
      name: 'flaky',
      type: 'docker-registry',
      url: `127.0.0.1:${await freePort()}`,
      delegateSelectors: ['docker'],
      healthCheck: { intervalSeconds: 3600 },
    })
    await b.ok('POST', `/api/v1/connectors/${broken.id}/validate`)
    const failing = await waitForEvent('connector.failing')
    expect(failing).toMatchObject({
      type: 'connector.failing',
      connector: { id: broken.id, name: 'flaky' },
      failedChecks: 2,
      check: { outcome: 'failed', code: 'DELEGATE_CANNOT_REACH_REGISTRY' },
    })

    // connector.recovered: fixed, validated by hand on another replica
    await c.ok('PUT', `/api/v1/connectors/${broken.id}`, { name: 'flaky', type: 'docker-registry', url: registry, delegateSelectors: ['docker'], healthCheck: { intervalSeconds: 3600 } })
    await c.ok('POST', `/api/v1/connectors/${broken.id}/validate`)
    const recovered = await waitForEvent('connector.recovered')
    expect(recovered).toMatchObject({ connector: { id: broken.id, name: 'flaky' }, failingSince: failing.failingSince, check: { outcome: 'succeeded' } })

    // connector.certificate-expiring: the test CA signs for two days
    const secret = await a.ok('POST', '/api/v1/secrets', { name: 'tls-pw', value: password })
    const tls = await b.ok('POST', '/api/v1/connectors', {
      name: 'tls registry',
      type: 'docker-registry',
      url: `https://${tlsRegistry.hostPort}`,
      username: 'bob',
      passwordSecretId: secret.id,
      delegateSelectors: ['docker'],
      healthCheck: { intervalSeconds: 3600 },
    })
    const expiring = await waitForEvent('connector.certificate-expiring')
    expect(expiring).toMatchObject({
      connector: { id: tls.id, name: 'tls registry', url: `https://${tlsRegistry.hostPort}` },
      certificate: { issuer: 'CN=registry-delegates test CA', daysUntilExpiry: 1 },
    })

    // selectors.last-delegate, then selectors.no-delegate
    await delegates[1]!.close()
    const last = await waitForEvent('selectors.last-delegate')
    expect(last).toMatchObject({ selectors: ['docker'], delegates: [{ name: 'alert-a' }], connectors: expect.arrayContaining([{ id: tls.id, name: 'tls registry' }]) })
    await delegates[0]!.close()
    const none = await waitForEvent('selectors.no-delegate')
    expect(none).toMatchObject({ selectors: ['docker'], delegates: [] })

    // nothing left to send: the outbox is empty and no delivery is pending
    const redis = new Redis(inject('redisUrl'))
    const queue = new Queue(ALERTS_QUEUE, { connection: { url: inject('redisUrl') }, prefix })
    try {
      const until = Date.now() + 20_000
      for (;;) {
        const counts = await queue.getJobCounts('waiting', 'delayed', 'active')
        const outbox = await redis.llen(redisKeys(prefix).alertOutbox)
        if (outbox === 0 && counts.waiting === 0 && counts.delayed === 0 && counts.active === 0) break
        if (Date.now() > until) throw new Error(`deliveries still pending: ${JSON.stringify({ outbox, counts })}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      await queue.close()
      await redis.quit()
    }

    // once per event: one 500 then one 200 per delivery id, the five types once each
    const byId = new Map<string, number[]>()
    for (const d of deliveries) byId.set(String(d.headers[DELIVERY_HEADER]), [...(byId.get(String(d.headers[DELIVERY_HEADER])) ?? []), d.answered])
    expect([...byId.values()]).toEqual([...byId.keys()].map(() => [500, 200]))
    const types = deliveries.filter((d) => d.answered === 200).map((d) => d.headers[EVENT_HEADER])
    expect(types.sort()).toEqual(['connector.certificate-expiring', 'connector.failing', 'connector.recovered', 'selectors.last-delegate', 'selectors.no-delegate'])

    for (const d of deliveries) {
      const event = JSON.parse(d.body)
      expect(d.headers[SIGNATURE_HEADER]).toBe(`sha256=${createHmac('sha256', webhookSecret).update(d.body).digest('hex')}`)
      expect(d.headers['content-type']).toBe('application/json')
      expect(event.id).toBe(d.headers[DELIVERY_HEADER])
      expect(event.type).toBe(d.headers[EVENT_HEADER])
      expect(Date.parse(event.at)).toBeGreaterThan(0)
      const everything = JSON.stringify(d)
      for (const s of [password, webhookSecret, apiKey, secretsKey]) expect(everything).not.toContain(s)
    }
  }, 120_000)
})
