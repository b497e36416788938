/**
 * The delegate's part of a task's trace: `task.run`, a consumer span that continues the trace
 * from the `traceparent` of the task.assign frame (the manager's attempt, or the hand-over on the
 * delegate's replica), with every registry request below it (http.ts). It lives with the
 * registry client, which loads on the first task: an idle delegate never loads the tracing API.
 * With tracing off these are the API's no-op spans.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { TaskSpec } from '../../../protocol/src/index.ts'

const tracer = trace.getTracer('registry-delegate')

/** Which assignment a run is, for its span. */
export interface TaskTrace {
  taskId: string
  attemptId: string
  traceparent?: string | undefined
}

/**
 * Runs `fn` (the task's registry work) inside its `task.run` span: the requests made inside are
 * its children; the span ends with the outcome (`aborted` when `signal` stopped it).
 */
export async function inTaskSpan<T>(task: TaskSpec, about: TaskTrace | undefined, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const parent = about?.traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent: about.traceparent }) : ROOT_CONTEXT
  const span = tracer.startSpan(
    'task.run',
    { kind: SpanKind.CONSUMER, attributes: { 'rd.task.type': task.type, ...(about ? { 'rd.task.id': about.taskId, 'rd.attempt.id': about.attemptId } : {}) } },
    parent,
  )
  try {
    const result = await context.with(trace.setSpan(parent, span), fn)
    span.setAttribute('rd.task.outcome', 'succeeded')
    return result
  } catch (err) {
    if (signal.aborted) span.setAttribute('rd.task.outcome', 'aborted')
    else {
      const code = (err as { code?: unknown }).code
      span.setAttributes({ 'rd.task.outcome': 'failed', 'rd.task.error_code': typeof code === 'string' ? code : 'INTERNAL' })
      span.setStatus({ code: SpanStatusCode.ERROR })
    }
    throw err
  } finally {
    span.end()
  }
}
