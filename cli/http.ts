/** The manager's REST API (SPEC §3) as the CLI calls it: JSON in and out, errors as CliError. */
import { request } from 'undici'
import { CliError, EXIT, relayed, usage } from './errors.ts'

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

/** Network failures that mean "no manager answers there". */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
])

export class Client {
  readonly server: string
  readonly #key: string

  constructor(server: string, key: string) {
    let url: URL
    try {
      url = new URL(server)
    } catch {
      throw usage('INVALID_INPUT', `--server ${JSON.stringify(server)} is not a URL`, 'Give the manager as http(s)://host:port, e.g. http://127.0.0.1:8080.')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw usage('INVALID_INPUT', `--server ${JSON.stringify(server)} must be http:// or https://`)
    }
    this.server = url.href.replace(/\/+$/, '')
    this.#key = key
  }

  /**
   * Calls the API; answers the parsed body of a 2xx. Anything else throws: 4xx as usage errors
   * (the request was wrong), 5xx as failures, carrying the task when the answer names one.
   * `waitMs`: how long the manager may take to answer (long-running task routes).
   */
  async call<T>(method: Method, path: string, body?: unknown, waitMs = 30_000): Promise<T> {
    let res
    try {
      res = await request(`${this.server}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#key}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: waitMs + 15_000,
        bodyTimeout: waitMs + 15_000,
      })
    } catch (err) {
      const code = networkCodes(err).find((c) => UNREACHABLE.has(c))
      if (code !== undefined) throw new CliError('UNREACHABLE', `no manager answers at ${this.server} (${code})`, EXIT.unreachable)
      throw err
    }
    const text = await res.body.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new CliError('UNREACHABLE', `${this.server} answered ${res.statusCode} with something other than the manager's JSON`, EXIT.unreachable, {
        hint: 'Check --server: it must be the manager itself (or a proxy that passes /api/v1 through).',
      })
    }
    if (res.statusCode < 300) return json as T
    const answer = (json ?? {}) as { error?: { code?: unknown; message?: unknown }; task?: { id: string; status: string } }
    if (typeof answer.error?.code !== 'string') {
      throw new CliError('UNREACHABLE', `${this.server} answered ${res.statusCode} without the manager's error`, EXIT.unreachable, {
        hint: 'Check --server: it must be the manager itself (or a proxy that passes /api/v1 through).',
      })
    }
    const message = typeof answer.error.message === 'string' ? answer.error.message : `the manager answered ${res.statusCode}`
    const exitCode = res.statusCode < 500 ? EXIT.usage : EXIT.failed
    throw new CliError(relayed(answer.error.code), message, exitCode, answer.task ? { task: answer.task } : {})
  }
}

/** The codes on a failed request, its cause and (happy eyeballs) each address tried. */
function networkCodes(err: unknown, depth = 0): string[] {
  if (typeof err !== 'object' || err === null || depth > 3) return []
  const { code, cause } = err as { code?: unknown; cause?: unknown }
  const inner = err instanceof AggregateError ? (err.errors as unknown[]) : []
  return [...(typeof code === 'string' ? [code] : []), ...[cause, ...inner].flatMap((e) => networkCodes(e, depth + 1))]
}
