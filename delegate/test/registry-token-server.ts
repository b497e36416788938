/**
 * A small token server for distribution's token auth, as Docker Hub's auth.docker.io works:
 * `GET /token?service=…&scope=…&scope=…` with optional Basic credentials answers
 * `{token, access_token, expires_in, issued_at}`, granting each scope what the user's policy allows.
 * Wrong credentials are 401; `forbidden` users get 403.
 */
import { json, startFaultServer, type FaultServer } from './fault-server.ts'
import { signRegistryToken, type Access, type Pki } from './registry-pki.ts'

export const TOKEN_ISSUER = 'registry-delegates-test-issuer'
export const TOKEN_SERVICE = 'registry-delegates-test'

/** Actions a user may take on `type:name`, out of those asked. */
export type Policy = (type: string, name: string, actions: string[]) => string[]

export interface TokenUser {
  password: string
  policy: Policy
  forbidden?: boolean
}

export interface TokenServer extends FaultServer {
  realm: string
  /** Tokens issued so far. */
  issued: () => number
}

export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first < 0 || last <= first) return undefined
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) }
}

export async function startTokenServer(pki: Pki, users: Record<string, TokenUser>, anonymous: Policy | undefined): Promise<TokenServer> {
  let issued = 0
  const s = await startFaultServer((req, res, url) => {
    if (url.pathname !== '/token') return json(res, 404, { details: 'not found' })
    if (url.searchParams.get('service') !== TOKEN_SERVICE) return json(res, 400, { details: 'unknown service' })
    let subject = ''
    let policy: Policy | undefined = anonymous
    const auth = req.headers.authorization
    if (auth !== undefined) {
      const [user, ...rest] = Buffer.from(auth.replace(/^Basic /i, ''), 'base64').toString('utf8').split(':')
      const u = users[user ?? '']
      if (!u || u.password !== rest.join(':')) return json(res, 401, { details: 'incorrect username or password' })
      if (u.forbidden) return json(res, 403, { details: 'account disabled' })
      subject = user!
      policy = u.policy
    }
    if (!policy) return json(res, 401, { details: 'anonymous access is not allowed' }, { 'www-authenticate': 'Basic realm="token"' })
    const access: Access[] = []
    for (const scope of url.searchParams.getAll('scope')) {
      const a = parseScope(scope)
      if (!a) continue
      const granted = policy(a.type, a.name, a.actions)
      if (granted.length > 0) access.push({ ...a, actions: granted })
    }
    issued++
    const token = signRegistryToken(pki, { issuer: TOKEN_ISSUER, audience: TOKEN_SERVICE, subject, access, ttlS: 300 })
    json(res, 200, { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() })
  })
  return Object.assign(s, { realm: `${s.url}/token`, issued: () => issued })
}
