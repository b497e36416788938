/**
 * A task's trace on the manager side. One trace per task: the REST call (or the health check)
 * that creates it is the root, and its W3C `traceparent` travels in the job data, so every stint
 * on any replica continues the same trace:
 *
 *   POST /api/v1/tasks                          (server; the task is created)
 *   ├─ task.queued                              from creation (or parking) to a worker taking it
 *   ├─ task.stint                               one stint on one replica; the selection log as events
 *   │   └─ task.attempt                         producer: from task.assign to the attempt's end
 *   │       ├─ task.handover                    consumer, on the delegate's replica when it is another
 *   │       │   └─ task.run  …                  the delegate (its registry requests below it)
 *   │       └─ task.run  …                      (or straight from the attempt)
 *   └─ task.queued, task.stint …               after a wait, a back-off, a replica that stopped
 *
 * With tracing off every call here goes to the API's no-op, and a task without a traceparent
 * (created while tracing was off) makes no span at all.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api'
import type { AttemptEnd, AttemptStart, AttemptTrace } from './dispatcher.ts'

const tracer = trace.getTracer('registry-delegates-manager')

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})/

/** The W3C traceparent of the active span (for a new task's job data); undefined when tracing is off. */
export function activeTraceparent(): string | undefined {
  return traceparentOf(context.active())
}

function traceparentOf(ctx: Context): string | undefined {
  const carrier: { traceparent?: string } = {}
  propagation.inject(ctx, carrier)
  return carrier.traceparent
}

function contextOf(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent })
}

/** What a task view shows: the trace id, and the link when the trace was sampled (else there is nothing to see). */
export function traceFields(traceparent: string | undefined, link: ((traceId: string) => string) | undefined): { traceId?: string; traceUrl?: string } {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null
  if (!m) return {}
  const traceId = m[1]!
  const sampled = (parseInt(m[2]!, 16) & 1) === 1
  return link && sampled ? { traceId, traceUrl: link(traceId) } : { traceId }
}

/** The console's link: the template with the trace id in place of `{traceId}`. */
export function traceLink(template: string): ((traceId: string) => string) | undefined {
  return template ? (traceId) => template.replaceAll('{traceId}', traceId) : undefined
}

/**
 * Runs a route handler inside a server span named after the route, continuing a `traceparent`
 * the caller sent (a CI pipeline's trace); the task it creates picks up this span's context. The
 * span ends when the answer has gone (the error handler sets the status of a failure).
 */
export async function inServerSpan<T>(
  req: { method: string; routeOptions: { url?: string | undefined }; headers: Record<string, unknown> },
  reply: { raw: { statusCode: number; once(event: 'close', listener: () => void): unknown } },
  attributes: Attributes,
  handler: () => Promise<T>,
): Promise<T> {
  const route = req.routeOptions.url ?? ''
  const parent = propagation.extract(ROOT_CONTEXT, req.headers)
  const span = tracer.startSpan(`${req.method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': route, ...attributes } }, parent)
  reply.raw.once('close', () => {
    const status = reply.raw.statusCode
    span.setAttribute('http.response.status_code', status)
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.end()
  })
  try {
    return await context.with(trace.setSpan(parent, span), handler)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    span.setAttribute('error.type', typeof code === 'string' ? code : 'INTERNAL')
    throw err
  }
}

/** A root span for work that starts a task without a request (a scheduled health check). */
export async function inRootSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, { attributes }, ROOT_CONTEXT)
  try {
    return await context.with(trace.setSpan(ROOT_CONTEXT, span), fn)
  } finally {
    span.end()
  }
}

/** How a stint ended, for its span. */
export interface StintEnd {
  outcome: 'succeeded' | 'failed' | 'expired' | 'parked'
  attempts: number
  code?: string | undefined
  /** parked: why (a wait reason, a back-off) */
  waitReason?: string | null | undefined
}

/** One stint of a task on this replica: its queue wait before, its span, its attempts. */
export class StintTrace {
  readonly #span: Span
  readonly #ctx: Context

  private constructor(span: Span, ctx: Context) {
    this.#span = span
    this.#ctx = ctx
  }

  /**
   * The stint of a task whose job carries `traceparent` (null without one: nothing is recorded),
   * with the queue wait from `queuedAt` (creation or parking) until now.
   */
  static start(task: { id: string; type: string; traceparent?: string | undefined }, queuedAt: number, waitReason: string | null): StintTrace | null {
    if (!task.traceparent) return null
    const parent = contextOf(task.traceparent)
    const now = Date.now()
    const attributes = { 'rd.task.id': task.id, 'rd.task.type': task.type }
    const queued = tracer.startSpan('task.queued', { startTime: Math.min(queuedAt, now), attributes: waitReason ? { ...attributes, 'rd.task.wait_reason': waitReason } : attributes }, parent)
    queued.end(now)
    const span = tracer.startSpan('task.stint', { startTime: now, attributes }, parent)
    return new StintTrace(span, trace.setSpan(parent, span))
  }

  /** A selection-log line. */
  event(message: string): void {
    this.#span.addEvent(message)
  }

  /** A delegate was picked: the attempt's span, and the traceparent its task.assign frame carries. */
  attempt(start: AttemptStart): AttemptTrace {
    const { delegate } = start
    const span = tracer.startSpan(
      'task.attempt',
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'rd.attempt.id': start.attemptId,
          'rd.delegate.id': delegate.id,
          'rd.delegate.name': delegate.name,
          'rd.delegate.replica': delegate.owner,
          'rd.placement.via': start.via,
          'rd.placement.eligible': start.eligible,
          'rd.placement.handover': !delegate.local,
          'rd.replica': start.replicaId,
        },
      },
      this.#ctx,
    )
    const traceparent = traceparentOf(trace.setSpan(this.#ctx, span))
    return {
      traceparent,
      end(how: AttemptEnd, code?: string) {
        span.setAttribute('rd.attempt.outcome', how)
        if (code) span.setAttribute('rd.task.error_code', code)
        if (how !== 'succeeded') span.setStatus({ code: SpanStatusCode.ERROR })
        span.end()
      },
    }
  }

  end(end: StintEnd): void {
    this.#span.setAttributes({ 'rd.task.outcome': end.outcome, 'rd.task.attempts': end.attempts })
    if (end.code) this.#span.setAttribute('rd.task.error_code', end.code)
    if (end.waitReason) this.#span.setAttribute('rd.task.wait_reason', end.waitReason)
    if (end.outcome === 'failed' || end.outcome === 'expired') this.#span.setStatus({ code: SpanStatusCode.ERROR })
    this.#span.end()
  }
}

/**
 * The owner's side of a hand-over: a consumer span under the origin's attempt, whose context the
 * task.assign frame then carries to the delegate. Null without a traceparent.
 */
export function handoverSpan(traceparent: string | undefined, attributes: Attributes): { traceparent: string | undefined; end(outcome: 'assigned' | 'refused' | 'lost'): void } | null {
  if (!traceparent) return null
  const parent = contextOf(traceparent)
  const span = tracer.startSpan('task.handover', { kind: SpanKind.CONSUMER, attributes }, parent)
  return {
    traceparent: traceparentOf(trace.setSpan(parent, span)),
    end(outcome) {
      span.setAttribute('rd.handover.outcome', outcome)
      if (outcome !== 'assigned') span.setStatus({ code: SpanStatusCode.ERROR })
      span.end()
    },
  }
}
