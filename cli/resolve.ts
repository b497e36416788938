/** Arguments that may be an id or a display name: CONNECTOR, a secret, a token. */
import type { Connector } from '../manager/src/connector-store.ts'
import { CliError, EXIT, usage } from './errors.ts'
import type { Client } from './http.ts'

interface Named {
  id: string
  name: string
}

export function pick<T extends Named>(items: T[], ref: string, what: string, listCommand: string): T {
  const byId = items.find((i) => i.id === ref)
  if (byId) return byId
  let named = items.filter((i) => i.name === ref)
  if (named.length === 0) named = items.filter((i) => i.name.toLowerCase() === ref.toLowerCase())
  if (named.length === 1) return named[0]!
  if (named.length > 1) {
    throw usage('AMBIGUOUS', `${named.length} ${what}s are named ${JSON.stringify(ref)}: ${named.map((i) => i.id).join(', ')}`, 'Give the id instead of the name.')
  }
  throw new CliError('NOT_FOUND', `no ${what} has the id or name ${JSON.stringify(ref)}`, EXIT.usage, { hint: `List them with: ${listCommand}` })
}

export async function resolveConnector(client: Client, ref: string): Promise<Connector> {
  const { connectors } = await client.call<{ connectors: Connector[] }>('GET', '/connectors')
  return pick(connectors, ref, 'connector', 'delegatectl connectors ls')
}
