/**
 * An OTLP/HTTP trace receiver of our own for tests and benchmarks (`node:http`, the JSON
 * protocol): it keeps every span it is sent, flattened, and every request body as received, so a
 * test can search what really left the processes. `discard: true` answers and keeps nothing.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** '' for a root */
  parentSpanId: string
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer */
  kind: number
  service: string
  instance: string
  attributes: Record<string, string | number | boolean>
  events: string[]
  startMs: number
  endMs: number
  /** 0 unset, 1 ok, 2 error */
  status: number
}

export interface OtlpReceiver {
  /** the base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) */
  url: string
  spans: ReceivedSpan[]
  /** every body, as text */
  bodies: string[]
  /** requests that were not JSON trace exports */
  refused: number
  /** export requests answered (also when discarding) */
  exports: number
  close(): Promise<void>
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
type KeyValue = { key: string; value: AnyValue }

function value(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.boolValue !== undefined) return v.boolValue
  return JSON.stringify(v)
}

const attrs = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map((a) => [a.key, value(a.value)]))

export async function startOtlpReceiver(o: { discard?: boolean } = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const bodies: string[] = []
  let refused = 0
  let exports = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => (o.discard ? undefined : chunks.push(c)))
    req.on('end', () => {
      exports++
      if (o.discard) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
        return
      }
      const text = Buffer.concat(chunks).toString('utf8')
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
        refused++
        res.writeHead(415).end()
        return
      }
      bodies.push(text)
      const body = JSON.parse(text) as {
        resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: any[] }[] }[]
      }
      for (const rs of body.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes)
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              service: String(resource['service.name']),
              instance: String(resource['service.instance.id']),
              attributes: attrs(s.attributes),
              events: (s.events ?? []).map((e: { name: string }) => e.name),
              startMs: Number(BigInt(s.startTimeUnixNano) / 1_000_000n),
              endMs: Number(BigInt(s.endTimeUnixNano) / 1_000_000n),
              status: s.status?.code ?? 0,
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    bodies,
    get refused() {
      return refused
    },
    get exports() {
      return exports
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
