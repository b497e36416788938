import type { RegistryTarget, TaskSpec } from '../../protocol/src/index.ts'
import type { ConnectorStore } from './connector-store.ts'
import type { DispatchTask } from './dispatcher.ts'
import { InvalidInputError, NotFoundError } from './errors.ts'
import { registryHostOf } from './registry-host.ts'
import type { SecretStore } from './secret-store.ts'
import type { TaskData } from './tasks.ts'

/**
 * Builds what the dispatcher and the delegate need, just before dispatch (never stored). Throws
 * a ManagerError whose code is a task code when the task cannot run (its connector was deleted:
 * INVALID_INPUT; its secret cannot be opened: SECRET_UNREADABLE); anything else (Redis down) is
 * not the task's fault and ends it INTERNAL.
 */
export async function prepareTask(
  data: TaskData,
  attempts: number,
  { connectors, secrets }: { connectors: ConnectorStore; secrets: SecretStore },
): Promise<DispatchTask> {
  const connector = await connectors.get(data.connectorId).catch((err: unknown) => {
    if (err instanceof NotFoundError) throw new InvalidInputError('connectorId', `connector ${data.connectorId} was deleted before the task ran`)
    throw err
  })
  const registry: RegistryTarget = { url: connector.url }
  if (connector.username !== null) registry.username = connector.username
  if (connector.passwordSecretId !== null) registry.password = await secrets.reveal(connector.passwordSecretId)
  if (connector.passwordRef !== null) registry.passwordRef = connector.passwordRef
  const spec: TaskSpec = { type: data.type, registry }
  if (data.image !== null) spec.image = data.image
  return {
    taskId: data.id,
    connectorId: data.connectorId,
    registryHost: registryHostOf(connector.url),
    selectors: data.delegateSelectors,
    createdAt: data.createdAt,
    deadline: data.createdAt + data.timeoutMs,
    attempts,
    spec,
  }
}

/** For a hand-over relayed by another replica: the password is added back here, never sent over Redis. */
export async function addCredentials(
  connectorId: string,
  spec: TaskSpec,
  { connectors, secrets }: { connectors: ConnectorStore; secrets: SecretStore },
): Promise<TaskSpec> {
  const connector = await connectors.get(connectorId)
  if (connector.passwordSecretId === null) return spec
  return { ...spec, registry: { ...spec.registry, password: await secrets.reveal(connector.passwordSecretId) } }
}
