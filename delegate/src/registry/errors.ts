/**
 * Registry failures: one class, one stable `code` per kind (SPEC §5). Match on `code`, never on
 * message text. `cannotReach` marks network-level failures, so that the manager can give the
 * task to a delegate in another network (SPEC §4.5).
 */
import { CANNOT_REACH_CODES, type RegistryErrorCode } from '../../../protocol/src/error-codes.ts'
import type { WireFailure } from '../../../protocol/src/messages.ts'

export { REGISTRY_ERROR_CODES, type RegistryErrorCode } from '../../../protocol/src/error-codes.ts'

const CANNOT_REACH = CANNOT_REACH_CODES as ReadonlySet<RegistryErrorCode>
/** Worth another try later, perhaps elsewhere. Auth, name, input and protocol errors are not. */
const RETRYABLE: ReadonlySet<RegistryErrorCode> = new Set([...CANNOT_REACH, 'RATE_LIMITED', 'SERVER_ERROR'])

export interface RegistryErrorExtras {
  status?: number | undefined
  retryAfterMs?: number | undefined
  registryErrors?: unknown[] | undefined
  /** Already redacted. */
  url?: string | undefined
  cause?: unknown
}

export class RegistryError extends Error {
  override name = 'RegistryError'
  readonly code: RegistryErrorCode
  readonly retryable: boolean
  readonly cannotReach: boolean
  readonly status?: number
  readonly retryAfterMs?: number
  readonly registryErrors?: unknown[]
  readonly url?: string

  constructor(code: RegistryErrorCode, message: string, extras: RegistryErrorExtras = {}) {
    super(message, extras.cause === undefined ? undefined : { cause: extras.cause })
    this.code = code
    this.retryable = RETRYABLE.has(code)
    this.cannotReach = CANNOT_REACH.has(code)
    if (extras.status !== undefined) this.status = extras.status
    if (extras.retryAfterMs !== undefined) this.retryAfterMs = extras.retryAfterMs
    if (extras.registryErrors !== undefined) this.registryErrors = extras.registryErrors
    if (extras.url !== undefined) this.url = extras.url
  }

  toWire(): WireFailure {
    const w: WireFailure = { code: this.code, message: this.message, retryable: this.retryable }
    if (this.cannotReach) w.cannotReach = true
    if (this.status !== undefined) w.status = this.status
    if (this.retryAfterMs !== undefined) w.retryAfterMs = this.retryAfterMs
    if (this.registryErrors !== undefined) w.registryErrors = this.registryErrors
    if (this.url !== undefined) w.url = this.url
    return w
  }
}

/**
 * The registry's own `errors[]` from a body (distribution's error envelope), trimmed to at most
 * five entries of code, message and a short detail, so that a huge body never travels.
 */
export function registryErrorsOf(body: unknown): unknown[] | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const errors: unknown = (body as { errors?: unknown }).errors
  if (!Array.isArray(errors) || errors.length === 0) return undefined
  return (errors as unknown[]).slice(0, 5).map((e): unknown => {
    // not the envelope's shape: a short text of it, never the whole (it may be huge)
    if (typeof e !== 'object' || e === null) return String(e).slice(0, 500)
    const { code, message, detail } = e as { code?: unknown; message?: unknown; detail?: unknown }
    const out: Record<string, unknown> = {}
    if (typeof code === 'string') out.code = code
    if (typeof message === 'string') out.message = message.slice(0, 500)
    if (detail !== undefined) {
      const d = JSON.stringify(detail)
      out.detail = d.length > 500 ? d.slice(0, 500) : detail
    }
    return out
  })
}

/** The first registry error code in a body, e.g. `NAME_UNKNOWN`, `PAGINATION_NUMBER_INVALID`. */
export function firstRegistryCode(body: unknown): string | undefined {
  const errs = registryErrorsOf(body)
  const first = errs?.[0] as { code?: unknown } | undefined
  return typeof first?.code === 'string' ? first.code : undefined
}
