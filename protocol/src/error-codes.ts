/**
 * Every code a task can fail with: the one list (SPEC §4 and §5, plus the three the README
 * adds). The wire, the dispatcher, the API, the console and the README table all name codes
 * from here; `manager/test/readme.test.ts` keeps the README in step.
 */

/** Registry work on the delegate (SPEC §5). */
export const REGISTRY_ERROR_CODES = [
  'INVALID_INPUT',
  'DNS_NOT_FOUND',
  'CONNECTION_REFUSED',
  'TIMEOUT',
  'TLS_UNTRUSTED',
  'TLS_PROTOCOL_MISMATCH',
  'NOT_A_REGISTRY',
  'V1_ONLY',
  'AUTH_REQUIRED',
  'INVALID_CREDENTIALS',
  'ACCESS_DENIED',
  'NAME_UNKNOWN',
  'CATALOG_UNSUPPORTED',
  'RATE_LIMITED',
  'SERVER_ERROR',
  'PROTOCOL_ERROR',
] as const

/** Dispatch (SPEC §5, last line). */
export const DISPATCH_ERROR_CODES = ['NO_ELIGIBLE_DELEGATE', 'DELEGATE_CANNOT_REACH_REGISTRY', 'EXPIRED'] as const

/**
 * Outside SPEC §5: a secret sealed under a key the manager no longer has, a delegate that kept
 * refusing work (draining or full) until the retries ran out, and a bug (the message says which
 * log to read).
 */
export const OTHER_TASK_ERROR_CODES = ['SECRET_UNREADABLE', 'DELEGATE_BUSY', 'INTERNAL'] as const

export const TASK_ERROR_CODES = [...REGISTRY_ERROR_CODES, ...DISPATCH_ERROR_CODES, ...OTHER_TASK_ERROR_CODES] as const

export type RegistryErrorCode = (typeof REGISTRY_ERROR_CODES)[number]
export type TaskErrorCode = (typeof TASK_ERROR_CODES)[number]

/**
 * A code by name, `TaskErrorCode.EXPIRED`, built from the list (Temporal's `as const` style), so
 * that code names a code without writing its text again.
 */
export const TaskErrorCode = Object.freeze(Object.fromEntries(TASK_ERROR_CODES.map((c) => [c, c]))) as { readonly [C in TaskErrorCode]: C }

const known: ReadonlySet<string> = new Set(TASK_ERROR_CODES)
export function isTaskErrorCode(code: unknown): code is TaskErrorCode {
  return typeof code === 'string' && known.has(code)
}

/** Network-level: this delegate cannot reach the registry at all (SPEC §4.5). */
export const CANNOT_REACH_CODES: ReadonlySet<TaskErrorCode> = new Set([
  TaskErrorCode.DNS_NOT_FOUND,
  TaskErrorCode.CONNECTION_REFUSED,
  TaskErrorCode.TIMEOUT,
  TaskErrorCode.TLS_UNTRUSTED,
  TaskErrorCode.TLS_PROTOCOL_MISMATCH,
])
