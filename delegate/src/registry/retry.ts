/**
 * When to try a request again, and how long to wait first.
 *
 * Idempotent GETs are retried on reset sockets, 408, 429 and 5xx, at most `MAX_ATTEMPTS` times in
 * all, with full-jitter exponential backoff, or after the registry's `Retry-After` when it is short
 * enough to wait out. A wait is shared by every request to the same host: when one request learns
 * that the registry wants a pause, the others hold off too instead of earning more 429s.
 */
import { LIMITS } from '../../../protocol/src/limits.ts'

export const MAX_ATTEMPTS = 3
/** The longest Retry-After that is waited out (SPEC §5); longer ones end in RATE_LIMITED. */
export const MAX_RETRY_AFTER_MS = 30_000
const BASE_DELAY_MS = 200
const MAX_DELAY_MS = 5_000

/**
 * `Retry-After` in delay-seconds or as an HTTP-date (RFC 9110, the Retry-After field), as milliseconds from
 * `now`; undefined when absent or unreadable. A date in the past means 0; anything past ~24 days
 * (the wire's limit, and setTimeout's) counts as that long.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim()
  if (!v) return undefined
  let ms: number
  if (/^\d+$/.test(v)) ms = Number(v) * 1000
  else if (/^\d+\.\d+$/.test(v)) ms = Math.round(Number(v) * 1000) // lenient: some servers send fractions
  else {
    const at = /[a-z]/i.test(v) ? Date.parse(v) : Number.NaN
    if (Number.isNaN(at)) return undefined
    ms = Math.max(0, at - now)
  }
  return Math.min(ms, LIMITS.retryAfterMs)
}

/** Full jitter: a random wait in [0, min(cap, base·2^attempt)). `attempt` counts from 0. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt)
  return Math.floor(random() * ceiling)
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505)
}

/** Per-host "not before" times, shared by all requests of one client. */
export class HostBackoff {
  readonly #notBefore = new Map<string, number>()

  /** Milliseconds to wait before the next request to `host`. */
  waitFor(host: string, now: number = Date.now()): number {
    const t = this.#notBefore.get(host)
    if (t === undefined) return 0
    if (t <= now) {
      this.#notBefore.delete(host)
      return 0
    }
    return t - now
  }

  pause(host: string, ms: number, now: number = Date.now()): void {
    const until = now + ms
    if ((this.#notBefore.get(host) ?? 0) < until) this.#notBefore.set(host, until)
  }
}
