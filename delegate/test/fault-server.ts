/**
 * A tiny `node:http` server for what a real registry will not do on demand: 429 with
 * Retry-After, 503 then 200, 500 always, malformed JSON, Link loops, cross-origin links, small
 * pages, HTML at `/v2/`, a V1-only API, stalls and reset sockets. It binds 127.0.0.1 on port 0
 * and records every request it receives.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => unknown

export interface FaultServer {
  /** `http://127.0.0.1:PORT` */
  url: string
  host: string
  port: number
  requests: Seen[]
  server: Server
  close(): Promise<void>
}

export async function startFaultServer(handler: Handler): Promise<FaultServer> {
  const requests: Seen[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`)
    Promise.resolve(handler(req, res, url)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(599)
      res.end(String(err))
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    requests,
    server,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', ...headers })
  res.end(text)
}

/** `/v2/` answering like distribution. */
export function isPing(url: URL): boolean {
  return url.pathname === '/v2/' || url.pathname === '/v2'
}

export interface PagedOptions {
  /** Page size when the client sends no `n`. */
  defaultPage: number
  /** Largest `n` served; a larger one is refused with `refuse`. */
  maxPage: number
  refuse?: { status: number; body?: unknown }
  /** Added latency per request, ms. */
  delayMs?: number
  /** Awaited before every answer (a test opens it when it is ready for the answers). */
  gate?: () => Promise<void>
  /** Repository name (tags) or undefined (catalog). */
  repository?: string
}

/**
 * A registry that pages `entries` like distribution's catalog: `n` and `last`, and a relative
 * `Link: </v2/…?last=X&n=N>; rel="next"` while more remain.
 */
export function pagedRegistry(entries: string[], opts: PagedOptions): Handler {
  const sorted = [...entries].sort()
  const listPath = opts.repository ? `/v2/${opts.repository}/tags/list` : '/v2/_catalog'
  return async (_req, res, url) => {
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs))
    if (opts.gate) await opts.gate()
    if (isPing(url)) return json(res, 200, {})
    if (url.pathname !== listPath) return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] })
    const nParam = url.searchParams.get('n')
    const n = nParam === null ? opts.defaultPage : Number(nParam)
    if (nParam !== null && (!Number.isInteger(n) || n < 0 || n > opts.maxPage)) {
      const refuse = opts.refuse ?? { status: 400, body: { errors: [{ code: 'PAGINATION_NUMBER_INVALID', message: 'invalid number of results requested' }] } }
      return json(res, refuse.status, refuse.body ?? {})
    }
    const last = url.searchParams.get('last')
    let start = 0
    if (last !== null) {
      start = sorted.findIndex((e) => e > last)
      if (start < 0) start = sorted.length
    }
    const page = sorted.slice(start, start + n)
    const headers: Record<string, string> = {}
    if (start + n < sorted.length && page.length > 0) {
      const next = new URLSearchParams({ last: page.at(-1)!, n: String(n) })
      headers.link = `<${listPath}?${next.toString()}>; rel="next"`
    }
    json(res, 200, opts.repository ? { name: opts.repository, tags: page } : { repositories: page }, headers)
  }
}
