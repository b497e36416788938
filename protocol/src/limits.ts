/**
 * Every limit the decoders enforce, in one place, so that each sender fits what it sends to
 * them: a peer that breaks one loses its connection, so a well-behaved peer must never do it
 * by accident (a long registry message, a huge Retry-After, a 999 status, a giant tag list).
 */
export const LIMITS = {
  /** One WebSocket frame; ws `maxPayload` uses the same number. */
  frameBytes: 8 * 1024 * 1024,
  /** A result travels in frames of about this size when it does not fit in one (task.result.chunk). */
  chunkBytes: 1024 * 1024,
  /** All frames of one result together, and the entries it may hold. */
  resultBytes: 256 * 1024 * 1024,
  resultEntries: 10_000_000,
  /** One list entry: a repository name (distribution allows 255) or a tag (128). */
  entry: 1024,
  /** Ids the manager makes (task, attempt, delegate) and the delegate echoes. */
  id: 128,
  name: 253,
  tag: 253,
  tags: 256,
  capacity: 10_000,
  version: 64,
  active: 10_000,
  url: 4096,
  username: 4096,
  /** As large as a secret's value may be (the API's secret schema). */
  password: 65536,
  passwordRef: 1024,
  image: 1024,
  apiVersion: 256,
  errorCode: 64,
  errorMessage: 8192,
  registryErrors: 20,
  retryAfterMs: 2 ** 31 - 1,
  skipped: 2 ** 31 - 1,
  cancelReason: 1024,
  /** welcome.heartbeatMs */
  heartbeatMs: { min: 100, max: 600_000 },
  /** a probe's round trip */
  latencyMs: 3_600_000,
  /** task.assign.traceparent: W3C trace context, 55 characters in version 00 (later versions may only append) */
  traceparent: 128,
} as const
