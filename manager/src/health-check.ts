/** One check of a connector's health: a validation's outcome, as the health history keeps it. */
import type { DelegateRef, TaskOutcome } from './task-outcome.ts'
import type { TaskData } from './tasks.ts'

export interface HealthCheck {
  /** ISO 8601: when the check ended. */
  at: string
  outcome: TaskOutcome['status']
  code?: string
  /** The first line of the failure, cut to 300 characters. */
  message?: string
  delegate?: DelegateRef
  /** From the task's creation to its end, waiting for a delegate included. */
  durationMs: number
  /** The validate-connector task (GET /api/v1/tasks/:id has its selection log). */
  task: string
}

/** A validation's outcome as a check. */
export function checkOf(data: TaskData, outcome: TaskOutcome, now = Date.now()): HealthCheck {
  const check: HealthCheck = { at: new Date(now).toISOString(), outcome: outcome.status, durationMs: Math.max(0, now - data.createdAt), task: data.id }
  if (outcome.status !== 'succeeded') {
    check.code = outcome.error.code
    check.message = (outcome.error.message.split('\n')[0] ?? '').slice(0, 300)
  }
  if (outcome.delegate) check.delegate = { id: outcome.delegate.id, name: outcome.delegate.name }
  return check
}
