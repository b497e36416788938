/**
 * A tiny registry that wants credentials, for tests that need a password to be checked: Basic, or
 * the Bearer token flow with its token endpoint on the same server (one scheme per server). Only
 * `/v2/`, `/v2/_catalog` and `tags/list`; every Authorization header it receives is kept so that
 * a test can check what was really sent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface AuthRegistry {
  hostPort: string
  /** the bearer token it issues (a credential too: it must not be logged either) */
  issuedToken: string
  seenAuthorization: string[]
  close(): Promise<void>
}

/**
 * `tags`: what every repository lists (default 2.0, 1.0); with `pageSize`, at most that many per
 * page, with `Link: <…>; rel="next"` to the next, as distribution does.
 */
export async function startAuthRegistry(o: { scheme: 'basic' | 'bearer'; username: string; password: string; tags?: string[]; pageSize?: number }): Promise<AuthRegistry> {
  const basic = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`
  const issuedToken = `regtok-${Math.random().toString(36).slice(2)}${Date.now()}`
  const seenAuthorization: string[] = []
  let base = ''

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', ...headers })
    res.end(JSON.stringify(body))
  }
  const denied = (res: ServerResponse, scope?: string) => {
    const challenge =
      o.scheme === 'basic' ? 'Basic realm="test"' : `Bearer realm="${base}/token",service="test"${scope ? `,scope="${scope}"` : ''}`
    json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': challenge })
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization ?? ''
    if (auth) seenAuthorization.push(auth)
    const url = new URL(req.url ?? '/', base)
    if (url.pathname === '/token') {
      if (o.scheme === 'bearer' && auth === basic) return json(res, 200, { token: issuedToken, expires_in: 300 })
      return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] })
    }
    const ok = o.scheme === 'basic' ? auth === basic : auth === `Bearer ${issuedToken}`
    if (url.pathname === '/v2/') return ok ? json(res, 200, {}) : denied(res)
    if (url.pathname === '/v2/_catalog') return ok ? json(res, 200, { repositories: ['team/app'] }) : denied(res, 'registry:catalog:*')
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname)
    if (tags && !ok) return denied(res, `repository:${tags[1]}:pull`)
    if (tags) {
      const all = o.tags ? [...o.tags].sort() : ['2.0', '1.0']
      const last = url.searchParams.get('last')
      const from = last === null ? 0 : all.findIndex((t) => t > last)
      const n = Math.min(Number(url.searchParams.get('n') ?? Infinity), o.pageSize ?? Infinity)
      const page = from === -1 ? [] : all.slice(from, from + n)
      const more = from !== -1 && from + n < all.length
      const link = more ? { link: `</v2/${tags[1]}/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"` } : {}
      return json(res, 200, { name: tags[1], tags: page }, link)
    }
    json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`
  base = `http://${hostPort}`
  return {
    hostPort,
    issuedToken,
    seenAuthorization,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
