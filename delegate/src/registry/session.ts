/**
 * One task's conversation with one registry: it attaches the right Authorization to each GET and
 * answers 401 challenges once (Basic with the credentials, or a Bearer token for the scope),
 * remembering what it sent so that a final 401 can be told apart: none sent (AUTH_REQUIRED),
 * credentials refused (INVALID_CREDENTIALS), or a token short of scope.
 *
 *   client                 registry                    token realm
 *     │── GET /v2/… ──────────▶│
 *     │◀── 401 WWW-Authenticate: Bearer realm=…,service=…,scope=…
 *     │── GET realm?service=…&scope=…  (Basic credentials when given) ──▶│
 *     │◀── {token | access_token, expires_in} ───────────────────────────│
 *     │── GET /v2/… Authorization: Bearer … ─▶│
 */
import type { Logger } from 'pino'
import { parseChallenges, pickChallenge, type Challenge } from './challenge.ts'
import { RegistryError, registryErrorsOf } from './errors.ts'
import type { Http, HttpResponse } from './http.ts'
import type { NormalizedRegistry } from '../../../common/src/normalize-url.ts'
import { redactUrl } from './redact.ts'
import { tokenKey, type TokenCache, type TokenKeyParts } from './token-cache.ts'

export type AuthScheme = 'none' | 'basic' | 'bearer'

export interface Credentials {
  username?: string | undefined
  password?: string | undefined
}

export interface SessionContext {
  http: Http
  tokens: TokenCache
  log: Logger
  registry: NormalizedRegistry
  credentials: Credentials
  signal: AbortSignal
  deadline?: number | undefined
}

/** What was sent with the final request of a `get`, to classify a 401 that remains. */
export interface AuthOutcome {
  /** Authorization sent with the final request. */
  sent: AuthScheme
  /** Credentials took part (Basic header, or a token fetched with them). */
  sentCredentials: boolean
  /** The challenge of a final 401. */
  challenge?: Challenge | undefined
}

const TOKEN_BODY_MAX = 1 << 20
const MIN_TOKEN_LIFETIME_S = 60

export class RegistrySession {
  readonly #ctx: SessionContext
  /** What the registry asked for, learned from the first challenge. */
  scheme: AuthScheme = 'none'
  #bearer: { realm: string; service?: string | undefined } | undefined

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
  }

  get hasCredentials(): boolean {
    return this.#ctx.credentials.username !== undefined
  }

  /**
   * GET `url` with authorization for `scope` (`repository:NAME:pull`, `registry:catalog:*`),
   * answering one 401 challenge. Returns the final response, whatever its status. `learnOnly`:
   * learn the scheme from a challenge without answering it (a ping before a scoped request).
   */
  async get(url: URL, scope: string | undefined, maxBytes: number, opts: { learnOnly?: boolean; page?: number } = {}): Promise<HttpResponse & { auth: AuthOutcome }> {
    const scopes = scope ? [scope] : []
    let sent = await this.#authorization(scopes)
    let res = await this.#send(url, sent.header, maxBytes, opts.page)
    // At most: answer the challenge, then fetch one fresh token if the registry calls it invalid.
    let refetched = false
    for (let round = 0; res.status === 401 && round < 2; round++) {
      const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']))
      if (!challenge) return { ...res, auth: { ...sent.outcome, challenge: undefined } }
      const done = { ...res, auth: { ...sent.outcome, challenge } }

      if (challenge.scheme === 'basic') {
        this.scheme = 'basic'
        if (opts.learnOnly || sent.outcome.sent === 'basic' || !this.hasCredentials) return done
        sent = this.#basic()
      } else if (challenge.scheme === 'bearer') {
        const realm = challenge.params.realm
        if (!realm) {
          throw new RegistryError('PROTOCOL_ERROR', 'The registry asked for a Bearer token without naming its realm: report this to the registry operator.', {
            status: 401,
            url: redactUrl(url),
          })
        }
        this.scheme = 'bearer'
        this.#bearer = { realm: this.#resolveRealm(realm, url), service: challenge.params.service }
        if (opts.learnOnly) return done
        const asked = (challenge.params.scope ?? '').split(' ').filter(Boolean)
        const wanted = [...new Set([...scopes, ...asked])]
        if (sent.outcome.sent === 'bearer' && sent.token) {
          const error = challenge.params.error
          // The token already holds what the registry asks for: a fresh one would not help.
          if (error === 'insufficient_scope' && asked.every((s) => scopes.includes(s))) return done
          if (refetched) return done
          refetched = true
          this.#ctx.tokens.invalidate(tokenKey(this.#keyParts(wanted)), sent.token)
          this.#ctx.tokens.invalidate(tokenKey(this.#keyParts(scopes)), sent.token)
        }
        sent = await this.#bearerFor(wanted)
      } else {
        throw new RegistryError(
          'PROTOCOL_ERROR',
          `The registry asks for "${challenge.scheme}" authentication, which registry clients do not speak: use a registry that offers Basic or Bearer.`,
          { status: 401, url: redactUrl(url) },
        )
      }
      res = await this.#send(url, sent.header, maxBytes, opts.page)
    }
    const last = res.status === 401 ? pickChallenge(parseChallenges(res.headers['www-authenticate'])) : undefined
    return { ...res, auth: { ...sent.outcome, challenge: last } }
  }

  async #send(url: URL, authorization: string | undefined, maxBytes: number, page: number | undefined): Promise<HttpResponse> {
    return this.#ctx.http.get(url, {
      headers: authorization ? { authorization, accept: 'application/json' } : { accept: 'application/json' },
      signal: this.#ctx.signal,
      maxBytes,
      deadline: this.#ctx.deadline,
      page,
    })
  }

  async #authorization(scopes: string[]): Promise<{ header?: string; token?: string; outcome: AuthOutcome }> {
    if (this.scheme === 'basic' && this.hasCredentials) return this.#basic()
    if (this.scheme === 'bearer' && this.#bearer) return this.#bearerFor(scopes)
    return { outcome: { sent: 'none', sentCredentials: false } }
  }

  #basic(): { header: string; outcome: AuthOutcome } {
    const { username, password } = this.#ctx.credentials
    return {
      header: `Basic ${Buffer.from(`${username ?? ''}:${password ?? ''}`).toString('base64')}`,
      outcome: { sent: 'basic', sentCredentials: true },
    }
  }

  #keyParts(scopes: string[]): TokenKeyParts {
    const { username, password } = this.#ctx.credentials
    return { realm: this.#bearer!.realm, service: this.#bearer!.service, scopes, username, password }
  }

  async #bearerFor(scopes: string[]): Promise<{ header: string; token: string; outcome: AuthOutcome }> {
    const parts = this.#keyParts(scopes)
    const token = await this.#ctx.tokens.get(tokenKey(parts), () => this.#fetchToken(parts))
    return { header: `Bearer ${token}`, token, outcome: { sent: 'bearer', sentCredentials: this.hasCredentials } }
  }

  #resolveRealm(realm: string, base: URL): string {
    let u: URL
    try {
      u = new URL(realm, base)
    } catch {
      throw new RegistryError('PROTOCOL_ERROR', 'The registry named a token realm that is not a URL: report this to the registry operator.')
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      throw new RegistryError('PROTOCOL_ERROR', `The registry named a token realm with scheme ${u.protocol}: report this to the registry operator.`)
    }
    return u.href
  }

  async #fetchToken(p: TokenKeyParts): Promise<{ token: string; expiresInMs: number }> {
    const url = new URL(p.realm)
    if (p.username !== undefined && url.protocol === 'http:' && new URL(this.#ctx.registry.origin).protocol === 'https:') {
      // the registry is reached over TLS; its password must not then cross the network in clear
      throw new RegistryError(
        'PROTOCOL_ERROR',
        `${this.#ctx.registry.url} sends logins to a token service over plain http (${url.host}); the credentials were not sent: ask the registry operator to serve its token realm over https.`,
        { status: 401, url: redactUrl(url) },
      )
    }
    if (p.service) url.searchParams.set('service', p.service)
    for (const s of p.scopes) url.searchParams.append('scope', s)
    const headers: Record<string, string> = {}
    if (p.username !== undefined) {
      url.searchParams.set('account', p.username)
      headers.authorization = `Basic ${Buffer.from(`${p.username}:${p.password ?? ''}`).toString('base64')}`
    }
    const res = await this.#ctx.http.get(url, {
      headers: { ...headers, accept: 'application/json' },
      signal: this.#ctx.signal,
      maxBytes: TOKEN_BODY_MAX,
      deadline: this.#ctx.deadline,
    })
    const safe = redactUrl(url)
    const host = url.host
    let body: unknown
    try {
      body = JSON.parse(res.body.toString('utf8'))
    } catch {
      body = undefined
    }
    const extras = { status: res.status, url: safe, registryErrors: registryErrorsOf(body) }
    if (res.status === 401 || res.status === 403) {
      if (p.username === undefined) {
        throw new RegistryError('AUTH_REQUIRED', `The registry's token service (${host}) gives no anonymous access: set a username and password on the connector.`, extras)
      }
      if (res.status === 403) {
        throw new RegistryError('ACCESS_DENIED', `The token service (${host}) accepted the credentials but refuses them this access: grant the user pull (and catalog) rights.`, extras)
      }
      throw new RegistryError('INVALID_CREDENTIALS', `The token service (${host}) refused the username and password: check them, or the access token used as password.`, extras)
    }
    if (res.status === 429) {
      throw new RegistryError('RATE_LIMITED', `The token service (${host}) rate-limits this delegate: try again later.`, extras)
    }
    if (res.status >= 500) {
      throw new RegistryError('SERVER_ERROR', `The token service (${host}) failed with ${res.status}: try again later, or ask the registry operator.`, extras)
    }
    if (res.status !== 200 || typeof body !== 'object' || body === null) {
      throw new RegistryError('PROTOCOL_ERROR', `The token service (${host}) answered ${res.status} without a token: check the registry's auth configuration.`, extras)
    }
    const b = body as { token?: unknown; access_token?: unknown; expires_in?: unknown }
    const token = typeof b.token === 'string' && b.token ? b.token : typeof b.access_token === 'string' ? b.access_token : ''
    if (!token) {
      throw new RegistryError('PROTOCOL_ERROR', `The token service (${host}) answered without a token: check the registry's auth configuration.`, extras)
    }
    const expiresIn = typeof b.expires_in === 'number' && Number.isFinite(b.expires_in) ? b.expires_in : MIN_TOKEN_LIFETIME_S
    this.#ctx.log.debug({ realm: redactUrl(p.realm), scopes: p.scopes, expiresIn }, 'registry token fetched')
    return { token, expiresInMs: Math.max(MIN_TOKEN_LIFETIME_S, expiresIn) * 1000 }
  }
}
