/**
 * What can go wrong in a CLI run, each with the exit code scripts rely on:
 * 0 ok, 1 task failed (or the manager failed), 2 usage (bad arguments, unknown id, refused key),
 * 3 unreachable (no manager answers at --server).
 */
import type { TaskErrorCode } from '../protocol/src/index.ts'
import type { ApiErrorCode, ClientErrorCode } from '../manager/src/api-error-codes.ts'
import hints from '../manager/console/hints.json' with { type: 'json' }

/** A code the CLI names itself: from the task, API or client lists (a typo does not compile). */
export type KnownCode = TaskErrorCode | ApiErrorCode | ClientErrorCode
/** A code as the manager answered it, passed on unchecked (a newer manager may know more). */
export type RelayedCode = string & { readonly relayed: true }
export const relayed = (code: string) => code as RelayedCode

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const

export interface TaskRef {
  id: string
  status: string
}

export class CliError extends Error {
  override name = 'CliError'
  readonly code: string
  readonly exitCode: number
  /** the task the failure belongs to, shown so that its selection log can be read */
  readonly task: TaskRef | undefined
  /** a hint that beats the table's, for this one case */
  readonly hint: string | undefined
  constructor(code: KnownCode | RelayedCode, message: string, exitCode: number, extra: { task?: TaskRef | undefined; hint?: string } = {}) {
    super(message)
    this.code = code
    this.exitCode = exitCode
    this.task = extra.task
    this.hint = extra.hint
  }
}

export const usage = (code: KnownCode, message: string, hint?: string) => new CliError(code, message, EXIT.usage, hint === undefined ? {} : { hint })

export function hintFor(code: string): string | undefined {
  return (hints as Record<string, string>)[code]
}

/** code + message + hint (+ the task to look at), as printed on stderr. */
export function describe(err: CliError): string {
  const lines = [`error: ${err.code}: ${err.message}`]
  const hint = err.hint ?? hintFor(err.code)
  if (hint) lines.push(`hint:  ${hint}`)
  if (err.task) lines.push(`task:  ${err.task.id} (${err.task.status}); see its selection log: delegatectl tasks get ${err.task.id}`)
  return lines.join('\n')
}
