/**
 * HTTP_PROXY / NO_PROXY for the delegate's own connection to the manager (SPEC §2): a tiny
 * forward proxy on loopback that relays WebSocket upgrades and records what it relayed.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { startTestDelegate, startTestManager, type TestManager } from '../../test/harness.ts'
import type { Delegate } from '../src/delegate.ts'

/** Relays absolute-form upgrade requests (`GET http://host:port/path`) to their target. */
async function startProxy() {
  const seen: string[] = []
  const sockets = new Set<Socket | Duplex>()
  const server = createServer((_req, res) => res.writeHead(405).end())
  server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    seen.push(req.url ?? '')
    const target = new URL(req.url ?? '')
    const upstream = connect(Number(target.port), target.hostname, () => {
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`)
      upstream.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`)
      upstream.write(head)
      upstream.pipe(client).pipe(upstream)
    })
    for (const s of [upstream, client]) {
      sockets.add(s)
      s.on('error', () => s.destroy())
      s.on('close', () => sockets.delete(s))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('the connection to the manager through a proxy', () => {
  let m: TestManager
  let proxy: Awaited<ReturnType<typeof startProxy>>
  const delegates: Delegate[] = []

  beforeAll(async () => {
    m = await startTestManager(inject('redisUrl'))
    proxy = await startProxy()
  })
  afterAll(async () => {
    await Promise.all(delegates.map((d) => d.close()))
    await proxy.close()
    await m.close()
  })

  it('goes through HTTP_PROXY', async () => {
    delegates.push(await startTestDelegate(m.url, await m.api.token(), { name: 'proxied', proxy: { httpProxy: proxy.url } }))
    expect(proxy.seen).toEqual([`${m.url}/api/v1/delegates/stream`])
  })

  it('goes direct for hosts in NO_PROXY', async () => {
    const before = proxy.seen.length
    delegates.push(
      await startTestDelegate(m.url, await m.api.token(), { name: 'direct', proxy: { httpProxy: proxy.url, noProxy: 'localhost,127.0.0.1' } }),
    )
    expect(proxy.seen.length).toBe(before)
  })
})
