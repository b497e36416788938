/**
 * A task's answer as the frames that carry it, each one within what `decodeDelegateMessage`
 * accepts (limits.ts): the sender side of every decoder limit that a registry's answer could
 * otherwise push a delegate past (a long message, a 999 status, a huge Retry-After, a list over
 * one frame).
 */
import { LIMITS } from './limits.ts'
import type { ProbeResult, TaskResult, TaskResultChunk, TaskResultMessage, WireFailure } from './messages.ts'
import { PROFILE_LIMITS as P, type RegistryProfile } from './profile.ts'

/** At most `max` UTF-16 units, never ending inside a surrogate pair. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text
  const end = /[\ud800-\udbff]/.test(text[max - 1] ?? '') ? max - 1 : max
  return text.slice(0, end)
}

/** One encoded frame; `last`: the task.result itself (chunks come before it). */
export interface ResultFrame {
  text: string
  last: boolean
}

export function fitFailure(f: WireFailure): WireFailure {
  const out: WireFailure = { code: f.code, message: cut(f.message, LIMITS.errorMessage), retryable: f.retryable }
  if (f.cannotReach !== undefined) out.cannotReach = f.cannotReach
  if (f.status !== undefined && Number.isInteger(f.status) && f.status >= 100 && f.status <= 599) out.status = f.status
  if (f.retryAfterMs !== undefined && !Number.isNaN(f.retryAfterMs)) {
    out.retryAfterMs = Math.round(Math.min(LIMITS.retryAfterMs, Math.max(0, f.retryAfterMs)))
  }
  if (f.url !== undefined && f.url.length <= LIMITS.url) out.url = f.url
  if (f.registryErrors !== undefined) out.registryErrors = f.registryErrors.slice(0, LIMITS.registryErrors)
  return out
}

/**
 * The frames of one `task.result`: a single frame when the list (if any) fits in `chunkBytes`,
 * else `task.result.chunk` frames and then the result with `chunks` set. Built lazily, one frame
 * at a time, so that the sender holds the result and one frame, never a second copy of it all.
 * Entries longer than `LIMITS.entry` are left out and counted in `skipped`; past
 * `LIMITS.resultEntries` or `LIMITS.resultBytes` the list ends there with `truncated: true`.
 */
export function* resultFrames(
  message: TaskResultMessage,
  { chunkBytes = LIMITS.chunkBytes, resultBytes = LIMITS.resultBytes }: { chunkBytes?: number; resultBytes?: number } = {},
): Generator<ResultFrame> {
  const { taskId, attemptId } = message
  const frame = (outcome: TaskResultMessage['outcome'], chunks = 0): ResultFrame => ({
    text: JSON.stringify({ type: 'task.result', taskId, attemptId, outcome, ...(chunks > 0 ? { chunks } : {}) } satisfies TaskResultMessage),
    last: true,
  })
  if (!message.outcome.ok) {
    const error = fitFailure(message.outcome.error)
    const text = frame({ ok: false, error })
    const { registryErrors: _dropped, ...lean } = error
    yield Buffer.byteLength(text.text) <= LIMITS.frameBytes ? text : frame({ ok: false, error: lean })
    return
  }
  const result = message.outcome.result
  if (result.type === 'validate-connector') {
    const apiVersion = result.apiVersion === null ? null : cut(result.apiVersion, LIMITS.apiVersion)
    const fitted: TaskResult = { ...result, url: cut(result.url, LIMITS.url), apiVersion }
    if (result.profile) fitted.profile = fitProfile(result.profile)
    yield frame({ ok: true, result: fitted })
    return
  }
  const list = result.type === 'list-tags' ? result.tags : result.images
  let skipped = result.skipped ?? 0
  let truncated = result.truncated
  // room for the frames' own fields (ids, seq) on top of the entries
  const maxBytes = Math.min(resultBytes, LIMITS.resultBytes) - chunkBytes
  let seq = 0
  let count = 0
  let total = 0
  let part: string[] = []
  let partBytes = 0
  for (const entry of list) {
    if (entry.length > LIMITS.entry) {
      skipped++
      continue
    }
    const bytes = jsonBytes(entry) + 1
    if (count >= LIMITS.resultEntries || total + bytes > maxBytes) {
      truncated = true
      break
    }
    if (partBytes + bytes > chunkBytes && part.length > 0) {
      yield { text: JSON.stringify({ type: 'task.result.chunk', taskId, attemptId, seq: seq++, entries: part } satisfies TaskResultChunk), last: false }
      part = []
      partBytes = 0
    }
    part.push(entry)
    partBytes += bytes
    total += bytes
    count++
  }
  skipped = Math.min(skipped, LIMITS.skipped)
  const last: TaskResult =
    result.type === 'list-tags'
      ? { type: 'list-tags', image: cut(result.image, LIMITS.image), tags: part, truncated, skipped }
      : { type: 'list-images', images: part, truncated, skipped }
  yield frame({ ok: true, result: last }, seq)
}

/** Printable ASCII without `"` or `\\`: JSON writes it as it is (almost every tag and name). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** Bytes of the string as a JSON string literal. */
function jsonBytes(s: string): number {
  return PLAIN.test(s) ? s.length + 2 : Buffer.byteLength(JSON.stringify(s))
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, Math.round(n)))
const cutOrNull = (t: string | null, max: number) => (t === null ? null : cut(t, max))

/** A registry's profile within decodeProfile's limits (a 600-character version header, a certificate valid until 9999). */
export function fitProfile(p: RegistryProfile): RegistryProfile {
  const notAfterOk = p.tls !== null && p.tls.notAfter.length <= P.notAfter && !Number.isNaN(Date.parse(p.tls.notAfter))
  return {
    apiVersion: cutOrNull(p.apiVersion, P.text),
    auth: { ...p.auth, realmHost: cutOrNull(p.auth.realmHost, P.text), service: cutOrNull(p.auth.service, P.text) },
    catalog: p.catalog,
    pagination: p.pagination && {
      ...p.pagination,
      largestPageSize: p.pagination.largestPageSize === null ? null : clamp(p.pagination.largestPageSize, 1, P.pageSize),
    },
    rateLimit: p.rateLimit && { limit: cut(p.rateLimit.limit, P.rateLimit), remaining: cutOrNull(p.rateLimit.remaining, P.rateLimit) },
    tls:
      p.tls && notAfterOk
        ? {
            protocol: cut(p.tls.protocol, P.tlsProtocol),
            issuer: cut(p.tls.issuer, P.certName),
            subject: cut(p.tls.subject, P.certName),
            notAfter: p.tls.notAfter,
            daysUntilExpiry: clamp(p.tls.daysUntilExpiry, -P.days, P.days),
          }
        : null,
  }
}

/** A probe's answer within the decoder's limits: a status outside 100–599 is left out. */
export function fitProbeResult(r: ProbeResult): ProbeResult {
  const out: ProbeResult = { type: 'probe.result', probeId: r.probeId, reachable: r.reachable, latencyMs: clamp(r.latencyMs, 0, LIMITS.latencyMs) }
  if (r.code !== undefined) out.code = r.code
  if (r.message !== undefined) out.message = cut(r.message, LIMITS.errorMessage)
  if (r.status !== undefined && Number.isInteger(r.status) && r.status >= 100 && r.status <= 599) out.status = r.status
  return out
}
