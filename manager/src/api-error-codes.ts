/**
 * Every code the REST API answers with on its own, `{"error": {"code", "message"}}`: the one
 * list (the README's "API error codes" table is checked against it). Routes that run a task
 * (`/connectors/:id/images`, `…/tags`) also answer a failed task's code, from
 * `protocol/src/error-codes.ts`. The console's hints (`manager/console/hints.json`) name codes
 * from these lists only.
 */
export const API_ERROR_CODES = [
  'INVALID_INPUT',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'SECRET_IN_USE',
  'SECRET_OUT_OF_SCOPE',
  'PAYLOAD_TOO_LARGE',
  'REDIS_UNAVAILABLE',
  'INTERNAL',
] as const

export type ApiErrorCode = (typeof API_ERROR_CODES)[number]

/** A code by name, `ApiErrorCode.NOT_FOUND`, built from the list. */
export const ApiErrorCode = Object.freeze(Object.fromEntries(API_ERROR_CODES.map((c) => [c, c]))) as { readonly [C in ApiErrorCode]: C }

const known: ReadonlySet<string> = new Set(API_ERROR_CODES)
export function isApiErrorCode(code: unknown): code is ApiErrorCode {
  return typeof code === 'string' && known.has(code)
}

/**
 * Codes the API's clients give themselves: UNREACHABLE when no manager answers (or something
 * that is not the manager answers in its place; the console and delegatectl), and delegatectl's
 * own refusals before any request (no API key, a name that matches several records) or its
 * `--wait` running out. The CLI imports this list's type only (its package boundary).
 */
export const CLIENT_ERROR_CODES = ['UNREACHABLE', 'NO_API_KEY', 'AMBIGUOUS', 'WAIT_TIMEOUT'] as const
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]
