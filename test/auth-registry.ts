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

export async function startAuthRegistry(o: { scheme: 'basic' | 'bearer'; username: string; password: string }): Promise<AuthRegistry> {
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
    if (tags) return ok ? json(res, 200, { name: tags[1], tags: ['2.0', '1.0'] }) : denied(res, `repository:${tags[1]}:pull`)
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
