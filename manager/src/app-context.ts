import type { Redis } from 'ioredis'
import type { Connector, ConnectorStore } from './connector-store.ts'
import type { DelegateView } from './delegate-directory.ts'
import type { EligibilityAnswer, EligibilityQuery } from './eligibility.ts'
import type { Monitoring } from './monitoring.ts'
import type { SecretStore } from './secret-store.ts'
import type { Tasks } from './tasks.ts'
import type { TokenStore } from './token-store.ts'

/** What the routes work with; built by manager.ts, handed to buildApp() and on to each route file. */
export interface AppContext {
  redis: Redis
  connectors: ConnectorStore
  secrets: SecretStore
  tokens: TokenStore
  tasks: Tasks
  /** every delegate any replica has seen (GET /api/v1/delegates) */
  delegates: () => Promise<DelegateView[]>
  /** connector health, alerts and the console's activity (SPEC §8) */
  monitoring: Monitoring
  /** disconnects the delegates of a revoked token on this replica at once */
  revokeToken: (tokenId: string) => void
  /** who could run a task now, and why not (POST /api/v1/delegates/eligible); `probe`: ask them to reach the registry */
  eligibility: (query: EligibilityQuery, probe: boolean) => Promise<EligibilityAnswer>
  /** the connector a new task runs against, from the replica's prepared copy (NotFoundError when there is none) */
  taskConnector: (connectorId: string) => Promise<Connector>
  /** a connector was replaced or deleted: every replica drops its prepared copy */
  connectorChanged: (connectorId: string) => void
}
