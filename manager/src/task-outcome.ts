/** How a task ended, as the dispatcher reports it and the task's job stores it. */
import type { TaskErrorCode, TaskResult } from '../../protocol/src/index.ts'

export interface DelegateRef {
  id: string
  name: string
}

export type TaskError = {
  code: TaskErrorCode
  message: string
  status?: number
  retryAfterMs?: number
  registryErrors?: unknown[]
  details?: unknown
}

export type TaskOutcome =
  | { status: 'succeeded'; result: TaskResult; delegate: DelegateRef; attempts: number }
  | { status: 'failed' | 'expired'; error: TaskError; delegate: DelegateRef | null; attempts: number }
