/**
 * The delegate's part of a task's trace: `task.run`, a consumer span that continues the trace
 * from the `traceparent` of the task.assign frame (the manager's attempt, or the hand-over on the
 * delegate's replica), with every registry request below it (registry/http.ts). With tracing off
 * these are the API's no-op spans.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api'
import type { TaskAssign } from '../../protocol/src/index.ts'

const tracer = trace.getTracer('registry-delegate')

export interface TaskSpan {
  /** runs `fn` with the task's span active: the registry requests made inside become its children */
  within<T>(fn: () => Promise<T>): Promise<T>
  end(outcome: 'succeeded' | 'failed' | 'aborted', code?: string): void
}

export function startTaskSpan(assign: TaskAssign, delegateName: string): TaskSpan {
  const parent = assign.traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent: assign.traceparent }) : ROOT_CONTEXT
  const span = tracer.startSpan(
    'task.run',
    {
      kind: SpanKind.CONSUMER,
      attributes: { 'rd.task.id': assign.taskId, 'rd.task.type': assign.task.type, 'rd.attempt.id': assign.attemptId, 'rd.delegate.name': delegateName },
    },
    parent,
  )
  const ctx: Context = trace.setSpan(parent, span)
  return {
    within: (fn) => context.with(ctx, fn),
    end(outcome, code) {
      span.setAttribute('rd.task.outcome', outcome)
      if (code) span.setAttribute('rd.task.error_code', code)
      if (outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR })
      span.end()
    },
  }
}
