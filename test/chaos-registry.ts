/**
 * A registry stand-in for the chaos suite: every request gets an answer drawn from a seeded
 * PRNG — a good page, any status with any headers and body, a slow drip, a reset, a hang, bytes
 * that are not HTTP. It records what reached it, so that the suite can check that no delegate
 * ever sent a credential it should not have (its own token, the API key).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { gzipSync } from 'node:zlib'
import { Prng } from './prng.ts'

export interface ChaosRegistry {
  /** one origin per port: a registry that asks for a long pause (Retry-After) pauses only its own origin */
  urls: string[]
  /** requests answered (in any way, a reset included) */
  answers: number
  /** every Authorization header received */
  authorizations: Set<string>
  close(): Promise<void>
}

const STATUSES = [200, 200, 200, 201, 204, 301, 302, 304, 400, 401, 401, 403, 404, 405, 408, 413, 416, 429, 429, 500, 501, 502, 503, 504, 599, 999]

export async function startChaosRegistry(seed: number, ports = 16): Promise<ChaosRegistry> {
  const prng = new Prng(seed)
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => (timers.delete(t), f()), ms)
    timers.add(t)
  }
  const state = { answers: 0, authorizations: new Set<string>() }
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    state.answers++
    if (req.headers.authorization) state.authorizations.add(req.headers.authorization)
    req.resume()
    try {
      answer(req, res)
    } catch {
      // Node refused a header value we drew: that is an answer too (a reset)
      res.socket?.destroy()
    }
  }

  function randomHeaders(url: URL, base: string): Record<string, string> {
    const h: Record<string, string> = {}
    if (prng.next() < 0.7) h['docker-distribution-api-version'] = prng.pick(['registry/2.0', 'registry/1.0', '', 'x'.repeat(prng.int(600))])
    if (prng.next() < 0.3) {
      // mostly short; now and then one that pauses this origin for a long time
      h['retry-after'] =
        prng.next() < 0.97
          ? prng.pick(['0', '1', '2', '-1', 'soon', '1.5', 'Thu, 01 Jan 1970 00:00:00 GMT'])
          : prng.pick(['31', '86400', '9'.repeat(prng.int(400) + 1), 'Fri, 01 Jan 9999 00:00:00 GMT'])
    }
    if (prng.next() < 0.3) {
      h['www-authenticate'] = prng.pick([
        `Bearer realm="${base}/token",service="chaos",scope="repository:x:pull"`,
        `Bearer realm="${base}/token"`,
        'Bearer realm="http://127.0.0.1:1/token"',
        'Bearer service="no-realm"',
        'Basic realm="chaos"',
        'Negotiate',
        `Bearer realm="${'x'.repeat(prng.int(5000))}"`,
        '',
        ',,,=,"',
      ])
    }
    if (prng.next() < 0.3) {
      const next = prng.pick([`${url.pathname}?last=${prng.int(1000)}`, `${url.pathname}${url.search}`, 'http://127.0.0.1:1/v2/x/tags/list', '/v2/_catalog?n=1', '<<<'])
      h.link = prng.pick([`<${next}>; rel="next"`, `<${next}>`, 'garbage', `<${next}>; rel=next, <${next}>; rel="next"`])
    }
    if (prng.next() < 0.1) h['content-encoding'] = prng.pick(['gzip', 'br', 'deflate', 'compress', 'identity'])
    if (prng.next() < 0.1) h.location = prng.pick(['/v2/', 'http://127.0.0.1:1/', '//evil.invalid/', ':::'])
    h['content-type'] = prng.pick(['application/json', 'text/html', 'text/plain', 'application/octet-stream'])
    return h
  }

  function randomBody(url: URL): Buffer {
    const kind = prng.int(8)
    const list = () => Array.from({ length: prng.int(200) }, () => (prng.next() < 0.8 ? `v${prng.int(100_000)}` : prng.string(prng.pick([5, 40, 300]))))
    switch (kind) {
      case 0:
        return Buffer.from(JSON.stringify(url.pathname.includes('_catalog') ? { repositories: list() } : { name: 'x', tags: list() }))
      case 1:
        return Buffer.from(JSON.stringify(prng.json(4)))
      case 2:
        return prng.bytes(prng.int(4096))
      case 3:
        return Buffer.alloc(0)
      case 4:
        return Buffer.from(JSON.stringify({ errors: [{ code: prng.pick(['NAME_UNKNOWN', 'UNAUTHORIZED', 'DENIED', 'TOOMANYREQUESTS', prng.string(20)]), message: prng.string(200), detail: prng.json(2) }] }))
      case 5:
        return Buffer.from(JSON.stringify({ token: prng.string(30), access_token: prng.pick([undefined, 'chaos-token', 42]), expires_in: prng.pick([-1, 0, 60, 1e308, 'x']) }))
      case 6:
        return gzipSync(Buffer.from(JSON.stringify({ tags: list() })))
      default:
        // large: past what a page usually is
        return Buffer.from(JSON.stringify({ tags: Array.from({ length: 20_000 + prng.int(60_000) }, (_, i) => `t${i}`) }))
    }
  }

  function answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const base = `http://${req.headers.host ?? '127.0.0.1'}`
    const what = prng.int(100)
    if (what < 4) {
      res.socket?.destroy()
      return
    }
    if (what < 6) {
      // not HTTP at all
      res.socket?.end(prng.bytes(prng.int(200)))
      return
    }
    if (what < 7) {
      // a hang: no answer until the client gives up (or the suite ends)
      return
    }
    const status = what < 35 ? 200 : prng.pick(STATUSES)
    const headers = randomHeaders(url, base)
    if (what < 35 && url.pathname.endsWith('/list') && prng.next() < 0.6) {
      // a good page with a next one: the walk goes on
      const last = Number(url.searchParams.get('last') ?? 0) + 1
      headers.link = `<${url.pathname}?n=${url.searchParams.get('n') ?? 100}&last=${last}>; rel="next"`
    }
    const body = what < 35 && prng.next() < 0.7 ? Buffer.from(JSON.stringify(url.pathname === '/token' ? { token: `chaos-${prng.int(1e9)}`, expires_in: 60 } : url.pathname.endsWith('/v2/') ? {} : { name: 'x', tags: Array.from({ length: prng.int(300) }, (_, i) => `v${i}`) })) : randomBody(url)
    res.writeHead(status, headers)
    if (what < 12) {
      // slow drip: a few bytes at a time, then the end or a reset
      let sent = 0
      const drip = () => {
        if (res.destroyed) return
        if (sent >= body.length || prng.next() < 0.05) {
          if (prng.next() < 0.3) res.socket?.destroy()
          else res.end()
          return
        }
        const n = 1 + prng.int(64)
        res.write(body.subarray(sent, sent + n))
        sent += n
        later(20 + prng.int(300), drip)
      }
      drip()
      return
    }
    if (what < 15) {
      // half the body, then a reset
      res.write(body.subarray(0, body.length >> 1))
      later(prng.int(50), () => res.socket?.destroy())
      return
    }
    res.end(body)
  }

  const servers: Server[] = []
  const urls: string[] = []
  for (let i = 0; i < ports; i++) {
    const server = createServer(handle)
    server.on('connection', (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    })
    server.on('clientError', (_err, socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    servers.push(server)
    urls.push(`http://127.0.0.1:${(server.address() as { port: number }).port}`)
  }
  return {
    urls,
    get answers() {
      return state.answers
    },
    authorizations: state.authorizations,
    close: async () => {
      for (const t of timers) clearTimeout(t)
      for (const s of sockets) s.destroy()
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    },
  }
}
