/**
 * A registry's profile (SPEC §8), probed after a validation succeeded: how it authenticates and
 * whether anonymous clients may pull, whether its catalog can be read and how it pages, its
 * rate-limit headers and its certificate. A probe that fails leaves its part unknown: the
 * profile never turns a valid connector into a failed validation.
 *
 *   anonymous GET /v2/            → challenge (realm host, service), rate-limit headers
 *   GET /v2/_catalog?n=1000|100|– → supported / forbidden / unsupported, the largest n accepted
 *   GET /v2/_catalog?n=1          → Link paging (only when one page hid nothing)
 *   anonymous GET /v2/, completed → anonymous clients are let in (through the token flow)
 *   TLS handshake of our own      → protocol, issuer, days until the certificate expires
 */
import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { connect } from 'node:tls'
import type { Logger } from 'pino'
import type { CatalogState, RegistryProfile } from '../../../protocol/src/profile.ts'
import type { NormalizedRegistry } from '../../../common/src/normalize-url.ts'
import { pickChallenge, parseChallenges } from './challenge.ts'
import { parseJson } from './classify.ts'
import { RegistryError } from './errors.ts'
import { BodyTooLargeError, type Http, type HttpResponse } from './http.ts'
import { nextLink } from './link-header.ts'
import { isPageSizeRefusal, PAGE_SIZES } from './paginate.ts'
import type { RegistrySession } from './session.ts'

export interface ProfileContext {
  http: Http
  log: Logger
  registry: NormalizedRegistry
  /** The validation's session: the connector's credentials, the auth scheme already learned. */
  session: RegistrySession
  /** A session without credentials, for the anonymous-pull probe. */
  anonymous: () => RegistrySession
  apiVersion: string | null
  signal: AbortSignal
  deadline?: number | undefined
  /** No proxy in the way: the certificate can be read with a TLS connection of our own. */
  inspectTls: boolean
}

const BODY_MAX = 4 * 1024 * 1024
const TLS_TIMEOUT_MS = 5_000
const DAY_MS = 86_400_000

export async function registryProfile(ctx: ProfileContext): Promise<RegistryProfile> {
  const [ping, catalog, anonymousPull, tls] = await Promise.all([
    anonymousPing(ctx),
    catalogProbe(ctx),
    anonymousPullProbe(ctx),
    ctx.inspectTls ? inspectTls(ctx) : null,
  ])
  return {
    apiVersion: ctx.apiVersion,
    auth: { scheme: ctx.session.scheme, realmHost: ping.realmHost, service: ping.service, anonymousPull },
    catalog: catalog.state,
    pagination: catalog.pagination,
    rateLimit: ping.rateLimit ?? catalog.rateLimit,
    tls,
  }
}

/** RegistryErrors and oversized bodies are answers about the registry; anything else is a bug. */
async function orUnknown<T>(ctx: ProfileContext, what: string, probe: () => Promise<T>, unknown: T): Promise<T> {
  try {
    return await probe()
  } catch (err) {
    if (!(err instanceof RegistryError) && !(err instanceof BodyTooLargeError)) throw err
    ctx.log.debug({ probe: what, code: (err as { code?: string }).code }, 'registry profile probe failed')
    return unknown
  }
}

interface PingFacts {
  realmHost: string | null
  service: string | null
  rateLimit: RegistryProfile['rateLimit']
}

async function anonymousPing(ctx: ProfileContext): Promise<PingFacts> {
  const unknown: PingFacts = { realmHost: null, service: null, rateLimit: null }
  return orUnknown(
    ctx,
    'anonymous ping',
    async () => {
      const url = new URL('/v2/', ctx.registry.origin)
      const res = await ctx.http.get(url, { headers: { accept: 'application/json' }, signal: ctx.signal, maxBytes: 64 * 1024, deadline: ctx.deadline, retry: false })
      const challenge = res.status === 401 ? pickChallenge(parseChallenges(res.headers['www-authenticate'])) : undefined
      let realmHost: string | null = null
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        try {
          realmHost = new URL(challenge.params.realm, url).host
        } catch {
          realmHost = null
        }
      }
      const service = challenge?.scheme === 'bearer' ? clip(challenge.params.service) : null
      return { realmHost, service, rateLimit: rateLimitOf(res) }
    },
    unknown,
  )
}

interface CatalogFacts {
  state: CatalogState
  pagination: RegistryProfile['pagination']
  rateLimit: RegistryProfile['rateLimit']
}

async function catalogProbe(ctx: ProfileContext): Promise<CatalogFacts> {
  const unknown: CatalogFacts = { state: 'unsupported', pagination: null, rateLimit: null }
  return orUnknown(
    ctx,
    'catalog',
    async () => {
      for (const [i, n] of PAGE_SIZES.entries()) {
        const url = catalogUrl(ctx, n)
        const res = await ctx.session.get(url, 'registry:catalog:*', BODY_MAX)
        if (res.status === 200) {
          const entries = repositories(res)
          let link = nextLink(res.headers.link, url) !== undefined
          if (!link && n !== undefined && entries.length >= 2) {
            // one page held everything: ask for a page of one to see whether the registry links pages
            const small = await ctx.session.get(catalogUrl(ctx, 1), 'registry:catalog:*', BODY_MAX)
            link = small.status === 200 && nextLink(small.headers.link, catalogUrl(ctx, 1)) !== undefined
          }
          return {
            state: 'supported',
            pagination: { mode: link ? 'link' : 'none', largestPageSize: n ?? null, steppedDown: i > 0 },
            rateLimit: rateLimitOf(res),
          }
        }
        if (i < PAGE_SIZES.length - 1 && isPageSizeRefusal(res.status, res.body)) continue
        return { ...unknown, state: res.status === 401 || res.status === 403 ? 'forbidden' : 'unsupported', rateLimit: rateLimitOf(res) }
      }
      return unknown
    },
    unknown,
  )
}

function catalogUrl(ctx: ProfileContext, n: number | undefined): URL {
  const url = new URL('/v2/_catalog', ctx.registry.origin)
  if (n !== undefined) url.searchParams.set('n', String(n))
  return url
}

function repositories(res: HttpResponse): string[] {
  const body = parseJson(res.body) as { repositories?: unknown } | undefined
  const list = body?.repositories
  return Array.isArray(list) ? list.filter((e): e is string => typeof e === 'string' && e !== '') : []
}

/**
 * Whether anonymous clients are let in: `GET /v2/` without credentials, through the token flow
 * where there is one. Which repositories they may then pull is the registry's per-repository
 * decision; a registry that lets nobody in allows no anonymous pull at all.
 */
async function anonymousPullProbe(ctx: ProfileContext): Promise<boolean | null> {
  if (!ctx.session.hasCredentials || ctx.session.scheme === 'none') return true
  try {
    const res = await ctx.anonymous().get(new URL('/v2/', ctx.registry.origin), undefined, 64 * 1024)
    if (res.status === 200) return true
    return res.status === 401 || res.status === 403 ? false : null
  } catch (err) {
    // a token service that gives nobody a token answers AUTH_REQUIRED
    if (err instanceof RegistryError && err.code === 'AUTH_REQUIRED') return false
    if (err instanceof RegistryError || err instanceof BodyTooLargeError) return null
    throw err
  }
}

function rateLimitOf(res: HttpResponse): RegistryProfile['rateLimit'] {
  const limit = clip(header(res, 'ratelimit-limit'))
  if (limit === null) return null
  return { limit, remaining: clip(header(res, 'ratelimit-remaining')) }
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function clip(v: string | undefined, max = 128): string | null {
  if (v === undefined) return null
  const t = v.trim()
  return t === '' ? null : t.slice(0, max)
}

/**
 * Reads the certificate with a handshake of our own, verification off: the validation has
 * already proven (or refused) trust; this connection only looks, and sends no request.
 */
async function inspectTls(ctx: ProfileContext): Promise<RegistryProfile['tls']> {
  const url = new URL(ctx.registry.origin)
  if (url.protocol !== 'https:') return null
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = Number(url.port || 443)
  return new Promise((resolve) => {
    const socket = connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    const done = (value: RegistryProfile['tls']) => {
      clearTimeout(timer)
      ctx.signal.removeEventListener('abort', abort)
      socket.destroy()
      resolve(value)
    }
    const abort = () => done(null)
    const timer = setTimeout(abort, TLS_TIMEOUT_MS)
    ctx.signal.addEventListener('abort', abort, { once: true })
    socket.once('error', (err: Error) => {
      ctx.log.debug({ err: err.message }, 'registry profile: TLS inspection failed')
      done(null)
    })
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw as Buffer | undefined
      if (!raw) return done(null)
      const cert = new X509Certificate(raw)
      const notAfter = cert.validToDate
      done({
        protocol: socket.getProtocol() ?? 'unknown',
        issuer: cert.issuer.split('\n').join(', ').slice(0, 512),
        subject: cert.subject.split('\n').join(', ').slice(0, 512),
        notAfter: notAfter.toISOString(),
        daysUntilExpiry: Math.floor((notAfter.getTime() - Date.now()) / DAY_MS),
      })
    })
  })
}
