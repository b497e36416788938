/** WebSocket close codes we use (RFC 6455 §7.4.1, plus the 4000–4999 private range). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  /** The delegate token was revoked while connected. */
  tokenRevoked: 4001,
  /** Another connection took over this delegate's name. */
  replaced: 4002,
  /** No heartbeat within the timeout. */
  heartbeatTimeout: 4003,
} as const

/** An inbound frame that is not a message we can act on. Carries the close code to send. */
export class ProtocolError extends Error {
  override name = 'ProtocolError'
  readonly code = 'PROTOCOL_DECODE_FAILED'
  readonly closeCode: number
  constructor(message: string, closeCode: number = CloseCode.protocolError) {
    super(message)
    this.closeCode = closeCode
  }
}

/** RFC 6455 §5.5: a close frame's body is at most 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123

/**
 * A close reason that `ws.close()` accepts whatever the text: cut to 123 UTF-8 bytes at a
 * character boundary (`ws` throws on longer reasons, and a reason may quote what a peer sent).
 */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_CLOSE_REASON_BYTES) return text
  let out = ''
  let bytes = 0
  for (const ch of text) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > MAX_CLOSE_REASON_BYTES - 3) break
    out += ch
    bytes += n
  }
  return `${out}...`
}
