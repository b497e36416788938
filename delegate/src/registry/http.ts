/**
 * The transport under the registry client: one keep-alive undici Agent per origin (or an
 * EnvHttpProxyAgent when a proxy is configured), extra CAs, gzip, body caps, and GET retries
 * with backoff shared per host. Network failures become RegistryErrors with `cannotReach`.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { getCACertificates } from 'node:tls'
import { promisify } from 'node:util'
import { brotliDecompress, gunzip, inflate } from 'node:zlib'
import { setTimeout as sleep } from 'node:timers/promises'
import type { IncomingHttpHeaders } from 'node:http'
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { Agent, EnvHttpProxyAgent, errors as undiciErrors, request, type Dispatcher } from 'undici'
import { RegistryError, type RegistryErrorCode } from './errors.ts'
import { redactUrl } from './redact.ts'
import { HostBackoff, MAX_ATTEMPTS, MAX_RETRY_AFTER_MS, backoffDelay, isRetryableStatus, parseRetryAfter } from './retry.ts'

export interface ProxyOptions {
  httpProxy?: string | undefined
  httpsProxy?: string | undefined
  noProxy?: string | undefined
}

export interface HttpOptions {
  log: Logger
  caFile?: string | undefined
  proxy?: ProxyOptions | undefined
  /** Per request: connect, then headers, then each body chunk. */
  connectTimeoutMs?: number
  requestTimeoutMs?: number
  /** every request that went out (metrics): host, HTTP status or 'error', seconds */
  onRequest?: ((host: string, status: number | 'error', seconds: number) => void) | undefined
}

export interface HttpResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  url: URL
}

export interface GetOptions {
  headers?: Record<string, string>
  signal: AbortSignal
  /** Largest body read (after decompression); more is a BodyTooLargeError. */
  maxBytes: number
  /** Epoch ms past which waiting (Retry-After, backoff) is pointless. */
  deadline?: number | undefined
  /** Retry 408/429/5xx and reset sockets; default true. */
  retry?: boolean
  /** the page of a listing this request reads (1, 2, …), for its span */
  page?: number | undefined
}

/** A body larger than the caller's cap. Listing turns it into `truncated: true`. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError'
}

const tracer = trace.getTracer('registry-delegate')

const gunzipAsync = promisify(gunzip)
const inflateAsync = promisify(inflate)
const brotliAsync = promisify(brotliDecompress)

export class Http {
  readonly #log: Logger
  readonly #ca: string[] | undefined
  readonly #proxy: ProxyOptions | undefined
  readonly #agents = new Map<string, Dispatcher>()
  readonly #backoff = new HostBackoff()
  readonly #connectTimeoutMs: number
  readonly #requestTimeoutMs: number
  readonly #onRequest: HttpOptions['onRequest']
  #closed = false

  constructor(opts: HttpOptions) {
    this.#log = opts.log
    this.#onRequest = opts.onRequest
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? 30_000
    if (opts.caFile) {
      let pem: string
      try {
        pem = readFileSync(opts.caFile, 'utf8')
      } catch (err) {
        throw new Error(`REGISTRY_CA_FILE ${opts.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): point it at a PEM file of CA certificates.`, { cause: err })
      }
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new Error(`REGISTRY_CA_FILE ${opts.caFile} holds no PEM certificate: point it at a PEM file of CA certificates.`)
      }
      // Added to the trusted set, not instead of it: public registries keep working.
      this.#ca = [...getCACertificates('default'), pem]
    }
    const p = opts.proxy
    this.#proxy = p && (p.httpProxy || p.httpsProxy) ? p : undefined
  }

  #agent(origin: string): Dispatcher {
    let a = this.#agents.get(origin)
    if (a) return a
    const tls = this.#ca ? { ca: this.#ca } : {}
    const common = {
      connect: { timeout: this.#connectTimeoutMs, ...tls },
      headersTimeout: this.#requestTimeoutMs,
      bodyTimeout: this.#requestTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: 16,
    }
    a = this.#proxy
      ? new EnvHttpProxyAgent({
          ...common,
          // '' rather than undefined: undici would otherwise read process.env itself.
          httpProxy: this.#proxy.httpProxy ?? '',
          httpsProxy: this.#proxy.httpsProxy ?? '',
          noProxy: this.#proxy.noProxy ?? '',
          requestTls: { ...tls },
        })
      : new Agent(common)
    this.#agents.set(origin, a)
    return a
  }

  /** GET with retries. Throws RegistryError or BodyTooLargeError; anything else thrown is a bug. */
  async get(url: URL, opts: GetOptions): Promise<HttpResponse> {
    const host = url.host
    const retry = opts.retry ?? true
    let lastStatus: HttpResponse | undefined
    for (let attempt = 0; ; attempt++) {
      const hold = this.#backoff.waitFor(host)
      if (hold > 0) await this.#wait(hold, opts, url, true, lastStatus?.status)
      let res: HttpResponse
      try {
        res = await this.#once(url, opts, attempt)
      } catch (err) {
        if (err instanceof BodyTooLargeError) throw err
        const mapped = this.#networkError(err, url, opts.signal)
        if (retry && isResetSocket(err) && attempt + 1 < MAX_ATTEMPTS && !opts.signal.aborted) {
          this.#log.debug({ url: redactUrl(url), attempt, code: mapped.code }, 'registry request failed, retrying')
          await this.#wait(backoffDelay(attempt), opts, url, false)
          continue
        }
        throw mapped
      }
      if (!retry || !isRetryableStatus(res.status)) return res
      lastStatus = res
      const retryAfter = parseRetryAfter(res.headers['retry-after'])
      if (retryAfter !== undefined && (res.status === 429 || res.status === 503)) this.#backoff.pause(host, Math.min(retryAfter, 3_600_000))
      const tooLong = retryAfter !== undefined && (retryAfter > MAX_RETRY_AFTER_MS || !withinDeadline(retryAfter, opts.deadline))
      if (attempt + 1 >= MAX_ATTEMPTS || tooLong) return res
      const delay = retryAfter ?? backoffDelay(attempt)
      this.#log.debug({ url: redactUrl(url), status: res.status, attempt, delayMs: delay }, 'registry answered retryable status, retrying')
      await this.#wait(delay, opts, url, res.status === 429 || retryAfter !== undefined, res.status)
    }
  }

  /** `asked`: the registry asked for this pause (Retry-After, 429), rather than our own backoff. */
  async #wait(ms: number, opts: GetOptions, url: URL, asked: boolean, status?: number): Promise<void> {
    if (ms > MAX_RETRY_AFTER_MS || !withinDeadline(ms, opts.deadline)) {
      if (asked) {
        const why = ms > MAX_RETRY_AFTER_MS ? 'longer than is worth waiting in a task' : "past this task's deadline"
        throw new RegistryError('RATE_LIMITED', `${url.host} asks to wait ${Math.ceil(ms / 1000)} s before the next request, ${why}: try again later.`, {
          status,
          retryAfterMs: ms,
          url: redactUrl(url),
        })
      }
      throw new RegistryError('TIMEOUT', "The task's time ran out while waiting to retry the registry: try again, or raise the task's timeoutMs.", {
        url: redactUrl(url),
      })
    }
    try {
      await sleep(ms, undefined, { signal: opts.signal })
    } catch (err) {
      throw this.#networkError(err, url, opts.signal)
    }
  }

  /**
   * One request, as one client span (child of the task's span): method, host, port, path, status,
   * page and resend count. Never the query (a token realm's carries the account), never a header.
   */
  async #once(url: URL, opts: GetOptions, attempt: number): Promise<HttpResponse> {
    const started = performance.now()
    const span = tracer.startSpan('GET', {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': 'GET',
        'server.address': url.hostname,
        'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
        'url.scheme': url.protocol.slice(0, -1),
        'url.path': url.pathname,
        ...(opts.page !== undefined ? { 'rd.registry.page': opts.page } : {}),
        ...(attempt > 0 ? { 'http.request.resend_count': attempt } : {}),
      },
    })
    let status: number | 'error' = 'error'
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { 'accept-encoding': 'gzip, deflate, br', 'user-agent': 'registry-delegates', ...opts.headers },
        signal: opts.signal,
        dispatcher: this.#agent(url.origin),
      })
      status = res.statusCode
      span.setAttribute('http.response.status_code', status)
      // 401 and 404 are how registries talk (challenges, "no such repository"): not span errors
      if (status >= 500 || status === 429) span.setStatus({ code: SpanStatusCode.ERROR })
      const body = await readBody(res, opts.maxBytes)
      this.#log.debug({ url: redactUrl(url), status, bytes: body.length, ms: Math.round(performance.now() - started) }, 'registry request')
      return { status, headers: res.headers, body, url }
    } catch (err) {
      span.setAttribute('error.type', errorCodes(err)[0] ?? (err as Error)?.name ?? 'Error')
      span.setStatus({ code: SpanStatusCode.ERROR })
      throw err
    } finally {
      span.end()
      this.#onRequest?.(url.host, status, (performance.now() - started) / 1000)
    }
  }

  /**
   * The RegistryError for a failed request, decided on the error's class and the codes and
   * fields of it and its causes, never on message text. What did not come from the network,
   * undici or TLS (nothing in the chain carries a code) is a bug of ours: thrown as it is, so
   * that the delegate answers INTERNAL and logs its stack.
   */
  #networkError(err: unknown, url: URL, signal: AbortSignal): RegistryError {
    if (err instanceof RegistryError) return err
    const safeUrl = redactUrl(url)
    const host = url.host
    if (signal.aborted) {
      return new RegistryError('TIMEOUT', `The task was cancelled or ran out of time while calling ${host}: try again, or raise the task's timeoutMs.`, {
        url: safeUrl,
        cause: err,
      })
    }
    const chain = errorChain(err)
    const codes = chain.flatMap((e) => (typeof e.code === 'string' ? [e.code] : []))
    if (codes.length === 0 || isProgrammingError(err)) throw err
    const proxy = this.#proxyFor(url)
    const make = (code: RegistryErrorCode, message: string): RegistryError => new RegistryError(code, message, { url: safeUrl, cause: err })

    if (proxy && err instanceof undiciErrors.RequestAbortedError) {
      // undici's proxy agent aborts the request when the proxy answers CONNECT with anything but
      // 200; the status is only in its message, read here for the user, not to decide
      const status = /\((\d{3})\)/.exec(err.message)?.[1] ?? 'an error'
      return make('CONNECTION_REFUSED', `The proxy answered ${status} when asked to connect to ${host}: check HTTPS_PROXY/HTTP_PROXY, the proxy's credentials and NO_PROXY.`)
    }
    if (proxy && chain.some((e) => failedToReach(e, proxy))) {
      return make('CONNECTION_REFUSED', `The proxy ${proxy.host} cannot be reached (${codes[0]}): check HTTPS_PROXY/HTTP_PROXY, or list ${url.hostname} in NO_PROXY.`)
    }
    if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN') || codes.includes('EAI_NONAME')) {
      return make('DNS_NOT_FOUND', `The host ${url.hostname} cannot be resolved from this delegate: check the registry URL, or run the task on a delegate inside the registry's network.`)
    }
    if (codes.includes('ECONNREFUSED')) {
      return make('CONNECTION_REFUSED', `${host} refused the connection: check the registry URL and port, and that the registry is running and reachable from this delegate.`)
    }
    if (codes.some((c) => c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'ETIMEDOUT' || c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT' || c === 'ENETUNREACH' || c === 'EHOSTUNREACH')) {
      return make('TIMEOUT', `${host} did not answer in time: check that the registry is reachable from this delegate (firewall, proxy), or run the task on a delegate inside its network.`)
    }
    if (codes.some((c) => TLS_UNTRUSTED_CODES.has(c))) {
      const why = codes.includes('ERR_TLS_CERT_ALTNAME_INVALID') ? "the certificate does not name this host" : codes.includes('CERT_HAS_EXPIRED') ? 'the certificate has expired' : 'the certificate is not signed by a trusted CA'
      return make('TLS_UNTRUSTED', `The TLS certificate of ${host} is not trusted (${why}): add the registry's CA to REGISTRY_CA_FILE on the delegate, or fix the certificate.`)
    }
    if (url.protocol === 'https:' && codes.some((c) => c === 'ERR_SSL_WRONG_VERSION_NUMBER' || c === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || c === 'ERR_SSL_HTTP_REQUEST')) {
      return make('TLS_PROTOCOL_MISMATCH', `${host} does not speak TLS on this port: use http:// in the registry URL, or the registry's https port.`)
    }
    if (url.protocol === 'http:' && codes.some((c) => c.startsWith('HPE_'))) {
      return make('TLS_PROTOCOL_MISMATCH', `${host} did not answer plain HTTP on this port; it may expect TLS: use https:// in the registry URL.`)
    }
    if (codes.some((c) => c.startsWith('HPE_'))) {
      return make('PROTOCOL_ERROR', `${host} sent an answer that is not valid HTTP: check that the URL points at a registry.`)
    }
    if (codes.some((c) => c.startsWith('ERR_SSL_') || c === 'EPROTO' || c.startsWith('ERR_TLS_'))) {
      return make('TLS_PROTOCOL_MISMATCH', `The TLS handshake with ${host} failed (${codes.find((c) => c.startsWith('ERR_') || c === 'EPROTO')}): check that the port speaks https with a current TLS version.`)
    }
    if (isResetSocket(err)) {
      return make('CONNECTION_REFUSED', `${host} closed the connection before answering: check that the URL points at the registry's port and that no proxy or firewall cuts the connection.`)
    }
    return make('PROTOCOL_ERROR', `The request to ${host} failed (${codes[0]}): check the registry URL.`)
  }

  /** The proxy a request to `url` goes through, if any. */
  #proxyFor(url: URL): URL | undefined {
    const p = this.#proxy
    if (!p) return undefined
    const raw = url.protocol === 'https:' ? p.httpsProxy || p.httpProxy : p.httpProxy
    if (!raw) return undefined
    try {
      return new URL(raw)
    } catch {
      return undefined
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const agents = [...this.#agents.values()]
    this.#agents.clear()
    await Promise.all(agents.map((a) => a.close()))
  }
}

const TLS_UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'INVALID_CA',
])

function withinDeadline(ms: number, deadline: number | undefined): boolean {
  return deadline === undefined || Date.now() + ms < deadline
}

interface ErrorLike {
  code?: unknown
  cause?: unknown
  errors?: unknown
  address?: unknown
  port?: unknown
  hostname?: unknown
}

/** The error, its causes and (happy eyeballs) its aggregated errors. */
function errorChain(err: unknown, depth = 0): ErrorLike[] {
  if (typeof err !== 'object' || err === null || depth > 4) return []
  const e = err as ErrorLike
  const out: ErrorLike[] = [e]
  if (Array.isArray(e.errors)) for (const x of e.errors) out.push(...errorChain(x, depth + 1))
  out.push(...errorChain(e.cause, depth + 1))
  return out
}

function errorCodes(err: unknown): string[] {
  return errorChain(err).flatMap((e) => (typeof e.code === 'string' ? [e.code] : []))
}

/** A mistake in code (ours or a library's), not something the network did. */
function isProgrammingError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError
}

/** A connection to `proxy` itself that failed: the system error names its address and port. */
function failedToReach(e: ErrorLike, proxy: URL): boolean {
  const hostname = proxy.hostname.replace(/^\[|\]$/g, '')
  if ((e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') && e.hostname === hostname) return true
  if (e.code !== 'ECONNREFUSED') return false
  const port = proxy.port || (proxy.protocol === 'https:' ? '443' : '80')
  return String(e.port) === port && (e.address === hostname || isIP(hostname) === 0)
}

function isResetSocket(err: unknown): boolean {
  const codes = errorCodes(err)
  return codes.some((c) => c === 'ECONNRESET' || c === 'EPIPE' || c === 'UND_ERR_SOCKET' || c === 'UND_ERR_CLOSED')
}

async function readBody(res: Dispatcher.ResponseData, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length
    if (size > maxBytes) {
      res.body.destroy()
      throw new BodyTooLargeError(`body larger than ${maxBytes} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  const raw = Buffer.concat(chunks, size)
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase()
  if (encoding === '' || encoding === 'identity' || raw.length === 0) return raw
  const opts = { maxOutputLength: maxBytes }
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return await gunzipAsync(raw, opts)
    if (encoding === 'deflate') return await inflateAsync(raw, opts)
    if (encoding === 'br') return await brotliAsync(raw, opts)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLargeError(`body larger than ${maxBytes} bytes`)
    throw new RegistryError('PROTOCOL_ERROR', `The registry sent a ${encoding} body that does not decompress: report this to the registry operator.`, { cause: err })
  }
  throw new RegistryError('PROTOCOL_ERROR', `The registry sent a body in an unknown encoding (${encoding.slice(0, 40)}): report this to the registry operator.`)
}
