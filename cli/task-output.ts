/** A task for humans: its facts, its outcome and its selection log. */
import type { TaskView } from '../manager/src/tasks.ts'
import { TaskErrorCode } from '../protocol/src/index.ts'
import { CliError, EXIT } from './errors.ts'
import { printableInLine } from './printable.ts'
import { duration } from './table.ts'

export const FINAL = new Set(['succeeded', 'failed', 'expired'])

export function taskDuration(t: Pick<TaskView, 'createdAt' | 'finishedAt'>, now = Date.now()): string {
  return duration((t.finishedAt ? Date.parse(t.finishedAt) : now) - Date.parse(t.createdAt))
}

export function outcomeLine(t: TaskView): string {
  const r = t.result
  if (t.status === 'succeeded' && r) {
    if (r.type === 'validate-connector') return `valid: ${r.url} speaks ${r.apiVersion ?? 'the registry API'}, auth ${r.authScheme}`
    const skipped = r.skipped ? `, ${r.skipped} left out (outside the distribution grammar)` : ''
    if (r.type === 'list-images') return `${r.images.length} images${r.truncated ? ' (truncated)' : ''}${skipped}`
    return `${r.tags.length} tags of ${r.image}${r.truncated ? ' (truncated)' : ''}${skipped}`
  }
  if (t.error) return `${t.error.code}: ${t.error.message}`
  return t.status
}

export function describeTask(t: TaskView, connectorName?: string): string {
  const start = Date.parse(t.createdAt)
  const facts: [string, string][] = [
    ['task', t.id],
    ['type', `${t.type}${t.image ? ` ${t.image}` : ''}`],
    ['connector', connectorName ? `${connectorName} (${t.connectorId})` : t.connectorId],
    ['status', t.status],
    ['delegate', t.delegate ? `${t.delegate.name} (${t.delegate.id})` : '-'],
    ['attempts', String(t.attempts)],
    ['selectors', t.delegateSelectors.length ? t.delegateSelectors.join(', ') : '-'],
    ['created', t.createdAt],
    ['duration', `${taskDuration(t)}${t.finishedAt ? '' : ' so far'}`],
    ['outcome', outcomeLine(t)],
  ]
  const width = Math.max(...facts.map(([k]) => k.length))
  const log = t.selectionLog.map((e) => `  ${`+${((Date.parse(e.at) - start) / 1000).toFixed(3)}s`.padStart(9)}  ${printableInLine(e.message)}`)
  return [...facts.map(([k, v]) => `${k.padEnd(width)}  ${printableInLine(v)}`), '', 'selection log:', ...(log.length ? log : ['  (empty: the task waits for the dispatcher)'])].join('\n')
}

/** A task that ended without success, as the error that exits 1. */
export function taskFailure(t: TaskView): CliError {
  const error = t.error ?? { code: t.status === 'expired' ? TaskErrorCode.EXPIRED : TaskErrorCode.INTERNAL, message: `task ${t.status} without an error` }
  return new CliError(error.code, error.message, EXIT.failed, { task: { id: t.id, status: t.status } })
}
