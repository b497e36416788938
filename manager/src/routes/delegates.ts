import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../app-context.ts'
import { idParams, tokenBody } from '../schemas.ts'

const tags = ['delegates']

export function delegateRoutes(api: FastifyInstance, { tokens, delegates, revokeToken }: AppContext): void {
  api.post<{ Body: { name: string } }>('/delegate-tokens', { schema: { tags, summary: 'Create a delegate token (shown only in this answer)', body: tokenBody } }, async (req, reply) => {
    const created = await tokens.create(req.body.name)
    req.log.info({ tokenId: created.id, name: created.name }, 'delegate token created')
    return reply.status(201).send(created)
  })
  api.get('/delegate-tokens', { schema: { tags, summary: 'List delegate tokens (no token values)' } }, async () => ({ tokens: await tokens.list() }))
  api.delete<{ Params: { id: string } }>('/delegate-tokens/:id', { schema: { tags, summary: 'Revoke a token: its delegates are disconnected and cannot reconnect', params: idParams } }, async (req, reply) => {
    await tokens.revoke(req.params.id)
    revokeToken(req.params.id)
    req.log.info({ tokenId: req.params.id }, 'delegate token revoked')
    return reply.status(204).send()
  })
  api.get('/delegates', { schema: { tags, summary: 'Delegates any replica has seen' } }, async () => delegates())
}
