/**
 * Peers that attack a manager for the chaos suite, drawn from a seeded PRNG: TCP resets at every
 * stage of the WebSocket upgrade and in the middle of frames, frames of random bytes and of
 * multibyte text, delegates that swallow their tasks, peers that never read, HTTP garbage and
 * slow headers. Each attack ends its own sockets; none of them may end the manager.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { PROTOCOL_VERSION } from '../protocol/src/index.ts'
import type { Prng } from './prng.ts'
import { frame, rawWebSocket, upgradeRequest, type RawWs } from './raw-ws.ts'

export interface PeerStats {
  connections: number
  frames: number
  attacks: Record<string, number>
}

export interface ChaosPeers {
  stats: PeerStats
  stop(): Promise<void>
}

const STREAM = '/api/v1/delegates/stream'

export function startChaosPeers(o: { port: number; prng: Prng; tokens: readonly string[]; workers: number }): ChaosPeers {
  const { port, prng } = o
  const stats: PeerStats = { connections: 0, frames: 0, attacks: {} }
  let stopped = false
  const open = new Set<Socket>()

  const tcp = async (): Promise<Socket> => {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => undefined)
    open.add(s)
    s.once('close', () => open.delete(s))
    stats.connections++
    await once(s, 'connect')
    return s
  }
  const ws = async (): Promise<RawWs | null> => {
    stats.connections++
    try {
      const peer = await rawWebSocket(port, STREAM, { Authorization: `Bearer ${prng.pick(o.tokens)}` })
      open.add(peer.socket)
      peer.socket.once('close', () => open.delete(peer.socket))
      return peer
    } catch {
      return null // refused (a revoked token): fine
    }
  }
  const send = (peer: RawWs, payload: string | Buffer, opcode = 1) => {
    stats.frames++
    peer.send(payload, opcode)
  }
  const hello = (peer: RawWs, name: string, tags: string[] = [], capacity = 1) =>
    send(peer, JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name, tags, capacity, version: 'chaos' }))
  const settle = async (peer: RawWs, ms: number) => {
    await Promise.race([peer.ended, sleep(ms)])
    peer.socket.destroy()
  }

  const attacks: Record<string, () => Promise<void>> = {
    async 'reset during the upgrade'() {
      const s = await tcp()
      const withToken = prng.next() < 0.7
      const request = upgradeRequest(`127.0.0.1:${port}`, prng.pick([STREAM, '/', '/x', `${STREAM}?a=1`]), withToken ? { Authorization: `Bearer ${prng.pick(o.tokens)}` } : {})
      s.write(request.slice(0, 1 + prng.int(request.length)))
      if (prng.next() < 0.5) await sleep(prng.int(5))
      s.resetAndDestroy()
    },
    async 'reset after the 101, mid-frame'() {
      const peer = await ws()
      if (!peer) return
      if (prng.next() < 0.5) hello(peer, `chaos-mid-${prng.int(1000)}`)
      const f = frame(Buffer.from(JSON.stringify({ type: 'heartbeat', active: [] })))
      stats.frames++
      peer.socket.write(f.subarray(0, 1 + prng.int(f.length - 1)))
      if (prng.next() < 0.5) await sleep(prng.int(20))
      peer.socket.resetAndDestroy()
    },
    async 'frames of random bytes'() {
      const peer = await ws()
      if (!peer) return
      if (prng.next() < 0.5) hello(peer, `chaos-bytes-${prng.int(1000)}`)
      for (let i = prng.int(5); i >= 0; i--) {
        if (prng.next() < 0.2) {
          stats.frames++
          peer.socket.write(prng.bytes(1 + prng.int(300)))
        } else send(peer, prng.bytes(prng.int(prng.pick([10, 200, 70_000]))), prng.pick([0, 1, 1, 2, 3, 8, 9, 10, 11, 15]))
      }
      await settle(peer, 1_000)
    },
    async 'frames of multibyte text'() {
      const peer = await ws()
      if (!peer) return
      const texts = [
        () => prng.string(prng.pick([10, 200, 3000])),
        () => JSON.stringify({ type: '€'.repeat(prng.int(300)) }),
        () => JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name: `😀${prng.string(20)}`, tags: [prng.string(10)], capacity: 1, version: '漢' }),
        () => JSON.stringify({ type: 'task.result.chunk', taskId: prng.string(10), attemptId: prng.string(10), seq: prng.int(3), entries: [prng.string(30)] }),
        () => JSON.stringify({ type: 'task.result', taskId: 'x', attemptId: 'y', chunks: prng.int(4), outcome: { ok: true, result: { type: 'list-tags', image: 'é', tags: ['ü'], truncated: false } } }),
        () => JSON.stringify(prng.json(5)),
      ]
      for (let i = 1 + prng.int(6); i > 0; i--) send(peer, prng.pick(texts)())
      // invalid UTF-8 in a text frame
      if (prng.next() < 0.3) send(peer, Buffer.from([0x7b, 0xc3, 0x28, 0xff, 0x7d]))
      await settle(peer, 1_000)
    },
    async 'a delegate that swallows its tasks'() {
      const peer = await ws()
      if (!peer) return
      hello(peer, `chaos-hole-${prng.int(3)}`, ['chaos'], 1 + prng.int(3))
      const until = Date.now() + 500 + prng.int(4_000)
      while (Date.now() < until && !peer.socket.destroyed && !stopped) {
        send(peer, JSON.stringify({ type: 'heartbeat', active: [] }))
        await sleep(300)
      }
      if (prng.next() < 0.5) peer.socket.resetAndDestroy()
      else peer.socket.destroy()
    },
    async 'a peer that never reads'() {
      if (prng.next() < 0.5) {
        const peer = await ws()
        if (!peer) return
        hello(peer, `chaos-deaf-${prng.int(1000)}`)
        peer.socket.pause()
        await Promise.race([peer.ended, sleep(2_000 + prng.int(4_000))])
        peer.socket.destroy()
        return
      }
      // an HTTP client that asks for a large document and never reads it
      const s = await tcp()
      s.write(`GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(1 + prng.int(20)))
      s.pause()
      await sleep(1_000 + prng.int(3_000))
      s.destroy()
    },
    async 'HTTP garbage and slow headers'() {
      const s = await tcp()
      if (prng.next() < 0.5) {
        s.write(prng.pick([prng.bytes(1 + prng.int(2000)), Buffer.from(`GET /${'a'.repeat(prng.int(100_000))} HTTP/1.1\r\n`), Buffer.from('POST /api/v1/connectors HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{')]))
        await sleep(prng.int(200))
        s.resetAndDestroy()
        return
      }
      const request = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(50)}\r\n\r\n`
      for (let i = 0; i < request.length && !s.destroyed && !stopped; i += 5) {
        s.write(request.slice(i, i + 5))
        await sleep(50)
      }
      s.destroy()
    },
  }
  const names = Object.keys(attacks)

  const workers = Array.from({ length: o.workers }, async () => {
    while (!stopped) {
      const name = prng.pick(names)
      stats.attacks[name] = (stats.attacks[name] ?? 0) + 1
      try {
        await attacks[name]!()
      } catch {
        // an attack that could not even start (the manager refused the connection) is fine
      }
    }
  })

  return {
    stats,
    async stop() {
      stopped = true
      await Promise.all(workers)
      for (const s of open) s.destroy()
    },
  }
}
