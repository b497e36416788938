/**
 * A WebSocket peer on a bare TCP socket, for what `ws` will not do: ignore the close handshake,
 * send arbitrary bytes as frame payloads, stop reading, reset mid-frame. It speaks just enough
 * RFC 6455 to upgrade, send masked frames and read the server's unmasked text and close frames.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'

export interface RawWs {
  socket: Socket
  /** text frames received, in order */
  messages: string[]
  /** close frames received (code), never answered */
  closes: number[]
  /** resolves when the TCP connection ends (the server closed or cut it) */
  ended: Promise<void>
  /** a masked frame: opcode 1 (text) by default */
  send(payload: string | Buffer, opcode?: number): void
  /** waits for a text message matching `pattern`, within `ms` */
  next(pattern: RegExp, ms?: number): Promise<string>
}

export function upgradeRequest(host: string, path: string, headers: Record<string, string> = {}): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ]
  return `${lines.join('\r\n')}\r\n\r\n`
}

/** One masked client frame (RFC 6455 §5.2). */
export function frame(payload: Buffer, opcode = 1, mask = Buffer.from([0x12, 0x34, 0x56, 0x78])): Buffer {
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10)
  if (len >= 126 && len < 65536) {
    head[0] = 0x80 | opcode
    head[1] = 0x80 | 126
    head.writeUInt16BE(len, 2)
  } else if (len >= 65536) {
    head[0] = 0x80 | opcode
    head[1] = 0x80 | 127
    head.writeBigUInt64BE(BigInt(len), 2)
  }
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i % 4]!
  return Buffer.concat([head, mask, body])
}

/** Opens a socket, upgrades on `path` with `headers`, and resolves once the 101 arrived. */
export async function rawWebSocket(port: number, path: string, headers: Record<string, string>): Promise<RawWs> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  const messages: string[] = []
  const closes: number[] = []
  const waiters: { pattern: RegExp; resolve(m: string): void }[] = []
  let buf = Buffer.alloc(0)
  let upgraded = false
  let onUpgrade: (ok: boolean) => void = () => {}
  const upgradedP = new Promise<boolean>((r) => (onUpgrade = r))
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk])
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = buf.subarray(0, end).toString('latin1')
      buf = buf.subarray(end + 4)
      upgraded = true
      onUpgrade(head.startsWith('HTTP/1.1 101'))
    }
    for (;;) {
      if (buf.length < 2) return
      const opcode = buf[0]! & 0x0f
      let len = buf[1]! & 0x7f
      let off = 2
      if (len === 126) {
        if (buf.length < 4) return
        len = buf.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (buf.length < 10) return
        len = Number(buf.readBigUInt64BE(2))
        off = 10
      }
      if (buf.length < off + len) return
      const payload = buf.subarray(off, off + len)
      buf = buf.subarray(off + len)
      if (opcode === 1) {
        const text = payload.toString('utf8')
        messages.push(text)
        for (const w of [...waiters]) {
          if (w.pattern.test(text)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(text)
          }
        }
      } else if (opcode === 8) {
        closes.push(payload.length >= 2 ? payload.readUInt16BE(0) : 1005)
      }
      // pings are not answered either: this peer is as unhelpful as a peer can be
    }
  })
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write(upgradeRequest(`127.0.0.1:${port}`, path, headers))
  const giveUp = setTimeout(() => socket.destroy(), 10_000)
  const ok = await Promise.race([upgradedP, ended.then(() => false)])
  clearTimeout(giveUp)
  if (!ok) {
    socket.destroy()
    throw new Error('upgrade refused')
  }
  return {
    socket,
    messages,
    closes,
    ended,
    send(payload, opcode = 1) {
      socket.write(frame(Buffer.isBuffer(payload) ? payload : Buffer.from(payload), opcode))
    },
    next(pattern, ms = 10_000) {
      const seen = messages.find((m) => pattern.test(m))
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message matching ${pattern} within ${ms} ms; got ${messages.join(' | ').slice(0, 500)}`)), ms)
        waiters.push({ pattern, resolve: (m) => (clearTimeout(timer), resolve(m)) })
      })
    },
  }
}
