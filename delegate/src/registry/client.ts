/**
 * The delegate's registry client: runs one registry task (validate, catalog, tags) and returns
 * its result, or throws a RegistryError with a SPEC §5 code.
 *
 * Validation starts with `GET /v2/`, which says whether a V2 registry answers at all and which
 * auth it wants, and completes the auth flow (a 401 is never "reachable enough"). Listing goes
 * straight to its endpoint, saving a round trip per task; only when that fails without proof that
 * a registry answered is `/v2/` asked, to tell "not a registry" from "no such repository".
 */
import type { Logger } from 'pino'
import { TaskErrorCode } from '../../../protocol/src/error-codes.ts'
import type { ListImagesResult, ListTagsResult, ProbeResult, TaskResult, TaskSpec, ValidateResult } from '../../../protocol/src/messages.ts'
import { classifyFailure, parseJson } from './classify.ts'
import { RegistryError } from './errors.ts'
import { BodyTooLargeError, Http, type HttpOptions, type ProxyOptions } from './http.ts'
import { InvalidRegistryReference, normalizeRegistryUrl, normalizeRepository, type NormalizedRegistry } from '../../../common/src/normalize-url.ts'
import { DEFAULT_LIMITS, listAll, type ListLimits } from './paginate.ts'
import { registryProfile } from './profile.ts'
import { redactUrl } from './redact.ts'
import { RegistrySession, type Credentials } from './session.ts'
import { inTaskSpan, type TaskTrace } from './task-span.ts'
import { TokenCache } from './token-cache.ts'

export interface RegistryClientOptions {
  log: Logger
  /** Extra PEM CAs trusted for registry calls (REGISTRY_CA_FILE). */
  caFile?: string | undefined
  proxy?: ProxyOptions | undefined
  /** Listing guards; the defaults suit production. */
  limits?: Partial<ListLimits> | undefined
  /** Per request: connect timeout, and headers/body inactivity timeout. */
  connectTimeoutMs?: number | undefined
  requestTimeoutMs?: number | undefined
  /** every registry request (metrics) */
  onRequest?: HttpOptions['onRequest']
}

/** What a probe found (protocol `probe.result` without its envelope). */
export type ProbeAnswer = Omit<ProbeResult, 'type' | 'probeId'>

export interface RunOptions {
  /** Epoch ms after which the answer is no longer wanted: bounds Retry-After waits and listing. */
  deadline?: number | undefined
  /** the assignment, whose trace the run continues (task-span.ts) */
  trace?: TaskTrace | undefined
}

const PING_BODY_MAX = 256 * 1024

export class RegistryClient {
  readonly #log: Logger
  readonly #http: Http
  readonly #tokens = new TokenCache()
  readonly #limits: ListLimits
  readonly #proxied: boolean

  constructor(opts: RegistryClientOptions) {
    this.#log = opts.log
    this.#http = new Http({
      log: opts.log,
      caFile: opts.caFile,
      proxy: opts.proxy,
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      onRequest: opts.onRequest,
    })
    this.#limits = { ...DEFAULT_LIMITS, ...stripUndefined(opts.limits ?? {}) }
    this.#proxied = Boolean(opts.proxy?.httpProxy || opts.proxy?.httpsProxy)
  }

  async run(task: TaskSpec, signal: AbortSignal, opts: RunOptions = {}): Promise<TaskResult> {
    return inTaskSpan(task, opts.trace, signal, async () => {
      try {
        return await this.#run(task, signal, opts)
      } catch (err) {
        if (err instanceof InvalidRegistryReference) throw new RegistryError('INVALID_INPUT', err.message)
        // Listing turns an oversized page into `truncated`; anywhere else (/v2/, /v1/_ping, a token
        // realm) a body that large means this is not the registry it claims to be.
        if (err instanceof BodyTooLargeError) {
          throw new RegistryError('PROTOCOL_ERROR', `The registry answered with a body far larger than that request warrants (${err.message}): check that the URL points at a registry.`)
        }
        // Anything else that is not a RegistryError is a bug, not a registry answer: the delegate
        // reports it as INTERNAL and logs its stack (delegate.ts), never as a registry code.
        throw err
      }
    })
  }

  /**
   * Whether this delegate reaches the registry at all: one `GET /v2/` without credentials and
   * without retries. Any HTTP answer (401 included) means reachable; a network or TLS failure is
   * its code. Never throws.
   */
  async probe(url: string, signal: AbortSignal): Promise<ProbeAnswer> {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    try {
      const registry = normalizeRegistryUrl(url)
      const res = await this.#http.get(new URL('/v2/', registry.origin), { signal, maxBytes: PING_BODY_MAX, retry: false })
      return { reachable: true, status: res.status, latencyMs: ms() }
    } catch (err) {
      if (err instanceof RegistryError) return { reachable: false, code: err.code, message: err.message, latencyMs: ms() }
      if (err instanceof InvalidRegistryReference) return { reachable: false, code: TaskErrorCode.INVALID_INPUT, message: err.message, latencyMs: ms() }
      if (err instanceof BodyTooLargeError) return { reachable: true, latencyMs: ms() }
      this.#log.error({ err }, 'registry probe failed unexpectedly')
      return { reachable: false, code: TaskErrorCode.INTERNAL, message: 'the probe failed unexpectedly in the delegate; see its log', latencyMs: ms() }
    }
  }

  async close(): Promise<void> {
    await this.#http.close()
  }

  async #run(task: TaskSpec, signal: AbortSignal, opts: RunOptions): Promise<TaskResult> {
    const registry = normalizeRegistryUrl(task.registry.url)
    const credentials = credentialsOf(task, registry)
    const repository = task.type === 'list-tags' ? normalizeRepository(registry, task.image) : undefined
    const log = this.#log.child({ registry: registry.url, taskType: task.type })
    const session = new RegistrySession({
      http: this.#http,
      tokens: this.#tokens,
      log,
      registry,
      credentials,
      signal,
      deadline: opts.deadline,
    })

    switch (task.type) {
      case 'validate-connector': {
        const apiVersion = await ping(session, registry, true)
        const result: ValidateResult = { type: 'validate-connector', url: registry.url, apiVersion, authScheme: session.scheme }
        result.profile = await registryProfile({
          http: this.#http,
          log,
          registry,
          session,
          anonymous: () => new RegistrySession({ http: this.#http, tokens: this.#tokens, log, registry, credentials: {}, signal, deadline: opts.deadline }),
          apiVersion,
          signal,
          deadline: opts.deadline,
          inspectTls: !this.#proxied,
        })
        return result
      }
      case 'list-images': {
        const list = await listAll({
          session,
          log,
          origin: registry.origin,
          path: '/v2/_catalog',
          key: 'repositories',
          scope: 'registry:catalog:*',
          endpoint: { kind: 'catalog' },
          limits: this.#limits,
          deadline: opts.deadline,
          unproven: () => ping(session, registry, false).then(() => undefined),
        })
        const images = registry.prefix ? list.entries.filter((e) => e.startsWith(registry.prefix)) : list.entries
        const result: ListImagesResult = { type: 'list-images', images, truncated: list.truncated, skipped: list.skipped }
        return result
      }
      case 'list-tags': {
        const repo = repository!
        const list = await listAll({
          session,
          log,
          origin: registry.origin,
          path: `/v2/${repo}/tags/list`,
          key: 'tags',
          scope: `repository:${repo}:pull`,
          endpoint: { kind: 'tags', repository: repo },
          limits: this.#limits,
          deadline: opts.deadline,
          unproven: () => ping(session, registry, false).then(() => undefined),
        })
        const result: ListTagsResult = { type: 'list-tags', image: repo, tags: list.entries, truncated: list.truncated, skipped: list.skipped }
        return result
      }
      default: {
        const never: never = task.type
        throw new RegistryError('INVALID_INPUT', `Unknown task type ${String(never)}: use validate-connector, list-images or list-tags.`)
      }
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function credentialsOf(task: TaskSpec, registry: NormalizedRegistry): Credentials {
  const username = task.registry.username ?? registry.username
  const password = task.registry.password ?? (task.registry.username === undefined ? registry.password : undefined)
  if (username === undefined || username === '') {
    if (password !== undefined && password !== '') {
      throw new RegistryError('INVALID_INPUT', 'A password was given without a username: set the username too (any name works for registries that take an access token).')
    }
    return {}
  }
  return { username, password: password ?? '' }
}

/**
 * `GET /v2/`: proves a V2 API answers and learns the auth scheme. With `complete`, the auth flow
 * is carried through to a 200, so that the credentials (or anonymity) are proven. Returns the
 * `Docker-Distribution-Api-Version` header.
 */
async function ping(session: RegistrySession, registry: NormalizedRegistry, complete: boolean): Promise<string | null> {
  const url = new URL('/v2/', registry.origin)
  const res = await session.get(url, undefined, PING_BODY_MAX, { learnOnly: !complete })
  const apiVersion = headerValue(res.headers['docker-distribution-api-version'])
  if (res.status === 401 && !complete && session.scheme !== 'none' && hasChallenge(res.headers['www-authenticate'])) {
    // Listing authenticates on its own endpoint with the right scope; no need to finish here.
    return apiVersion
  }
  if (res.status === 200) {
    if (apiVersion === null && !looksLikeRegistryBody(res.body, res.headers['content-type'])) {
      throw await notARegistry(session, registry, res.status)
    }
    return apiVersion
  }
  if (res.status >= 300 && res.status < 400 && apiVersion === null) {
    const location = typeof res.headers.location === 'string' ? safeLocation(res.headers.location, url) : undefined
    throw await notARegistry(session, registry, res.status, location)
  }
  if (res.status === 404 || (res.status === 401 && !hasChallenge(res.headers['www-authenticate']) && apiVersion === null)) {
    throw await notARegistry(session, registry, res.status)
  }
  throw classifyFailure(res, { kind: 'ping' })
}

function hasChallenge(h: string | string[] | undefined): boolean {
  return h !== undefined && String(h).trim() !== ''
}

function headerValue(h: string | string[] | undefined): string | null {
  if (h === undefined) return null
  return Array.isArray(h) ? (h[0] ?? null) : h
}

/** OCI distribution does not require the version header; its `/v2/` answers JSON (often `{}`). */
function looksLikeRegistryBody(body: Buffer, contentType: string | string[] | undefined): boolean {
  const ct = String(contentType ?? '').toLowerCase()
  if (ct.includes('html')) return false
  if (body.length === 0) return true
  const parsed = parseJson(body)
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
}

/** No V2 API: tell V1-only registries (`/v1/_ping` answers) from everything else. */
function safeLocation(location: string, base: URL): string | undefined {
  try {
    return redactUrl(new URL(location, base))
  } catch {
    return undefined
  }
}

async function notARegistry(session: RegistrySession, registry: NormalizedRegistry, status: number, redirect?: string): Promise<RegistryError> {
  const v1 = new URL('/v1/_ping', registry.origin)
  let v1Answers = false
  try {
    const res = await session.get(v1, undefined, 64 * 1024)
    const body = res.body.toString('utf8').trim()
    v1Answers = res.status === 200 && (res.headers['x-docker-registry-version'] !== undefined || body === 'true' || body === '{}' || body === '""')
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err
  }
  const url = redactUrl(new URL('/v2/', registry.origin))
  if (v1Answers) {
    return new RegistryError('V1_ONLY', `${registry.url} speaks only the retired Docker Registry V1 API: upgrade the registry to V2 (distribution) or point the connector at its V2 endpoint.`, {
      status,
      url,
    })
  }
  if (redirect) {
    return new RegistryError('NOT_A_REGISTRY', `${url} redirects to ${redirect} instead of answering: put the registry's own URL in the connector (perhaps that one).`, { status, url })
  }
  const hint = registry.typedV1 ? ' (the URL named /v1; registries are reached at /v2/)' : ''
  return new RegistryError('NOT_A_REGISTRY', `No Docker Registry V2 API answers at ${url}${hint}: check the host, port and path of the registry URL.`, { status, url })
}
