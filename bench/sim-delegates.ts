/**
 * A helper process for bench/dispatch.ts: opens N WebSockets that speak the delegate protocol
 * (hello, then heartbeats) and never run anything: load on the manager's connection handling.
 *   node bench/sim-delegates.ts MANAGER_URL TOKEN N [NAME]
 */
import WebSocket from 'ws'
import { PROTOCOL_VERSION } from '../protocol/src/index.ts'

const [url, token, n = '2000', name = 'sim'] = process.argv.slice(2)
if (!url || !token) throw new Error('usage: sim-delegates.ts MANAGER_URL TOKEN N')
const stream = url.replace(/^http/, 'ws') + '/api/v1/delegates/stream'
let welcomed = 0
const sockets: WebSocket[] = []
for (let i = 0; i < Number(n); i++) {
  const ws = new WebSocket(stream, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false })
  ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, name: `${name}-${i}`, tags: [`t${i % 10}`, 'sim'], capacity: 8, version: 'sim' })))
  ws.on('message', (data) => {
    const m = JSON.parse((data as Buffer).toString()) as { type: string; heartbeatMs?: number }
    if (m.type === 'welcome') {
      if (++welcomed === Number(n)) process.stdout.write('all welcomed\n')
      setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', active: [] })), m.heartbeatMs ?? 2_000)
    }
  })
  ws.on('error', (e) => process.stderr.write(`sim-${i}: ${e.message}\n`))
  sockets.push(ws)
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50))
}
process.once('SIGTERM', () => {
  for (const ws of sockets) ws.terminate()
  process.exit(0)
})
