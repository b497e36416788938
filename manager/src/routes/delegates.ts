import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../app-context.ts'
import { InvalidInputError, NotFoundError } from '../errors.ts'
import { checkConnectorUrl } from '../registry-host.ts'
import { eligibleBody, idParams, tokenBody } from '../schemas.ts'

const tags = ['delegates']

interface EligibleBody {
  connectorId?: string
  url?: string
  delegateSelectors?: string[]
  taskSelectors?: string[]
  probe?: boolean
}

export function delegateRoutes(api: FastifyInstance, { tokens, delegates, revokeToken, connectors, eligibility }: AppContext): void {
  api.post<{ Body: { name: string; delegateName?: string } }>(
    '/delegate-tokens',
    { schema: { tags, summary: 'Create a delegate token (shown only in this answer); delegateName binds it to that one delegate name', body: tokenBody } },
    async (req, reply) => {
      const created = await tokens.create(req.body.name, req.body.delegateName ?? null)
      req.log.info({ tokenId: created.id, name: created.name, delegateName: created.delegateName }, 'delegate token created')
      return reply.status(201).send(created)
    },
  )
  api.get('/delegate-tokens', { schema: { tags, summary: 'List delegate tokens (no token values)' } }, async () => ({ tokens: await tokens.list() }))
  api.delete<{ Params: { id: string } }>('/delegate-tokens/:id', { schema: { tags, summary: 'Revoke a token: its delegates are disconnected and cannot reconnect', params: idParams } }, async (req, reply) => {
    await tokens.revoke(req.params.id)
    revokeToken(req.params.id)
    req.log.info({ tokenId: req.params.id }, 'delegate token revoked')
    return reply.status(204).send()
  })
  api.get('/delegates', { schema: { tags, summary: 'Delegates any replica has seen' } }, async () => delegates())
  api.post<{ Body: EligibleBody }>(
    '/delegates/eligible',
    { schema: { tags, summary: 'Which delegates could run a task for this connector now, and why the others cannot (nothing runs)', body: eligibleBody } },
    async (req) => {
      const b = req.body
      if ((b.connectorId === undefined) === (b.url === undefined)) throw new InvalidInputError(undefined, 'give either connectorId (a saved connector) or url (one not saved yet)')
      if (b.connectorId !== undefined && b.taskSelectors !== undefined) {
        throw new InvalidInputError('taskSelectors', 'with connectorId, the task selectors are delegateSelectors')
      }
      if (b.connectorId !== undefined) {
        const c = await connectors.get(b.connectorId).catch((err: unknown) => {
          if (err instanceof NotFoundError) throw new InvalidInputError('connectorId', `connector ${JSON.stringify(b.connectorId)} does not exist`)
          throw err
        })
        return eligibility({ connector: c, taskSelectors: b.delegateSelectors ?? [] }, b.probe === true)
      }
      checkConnectorUrl(b.url!)
      return eligibility({ connector: { url: b.url!, delegateSelectors: b.delegateSelectors ?? [] }, taskSelectors: b.taskSelectors ?? [] }, b.probe === true)
    },
  )
}
