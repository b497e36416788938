/** WebSocket close codes we use (RFC 6455 §7.4.1, plus the 4000–4999 private range). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
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
