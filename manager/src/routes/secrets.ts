import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../app-context.ts'
import { idParams, secretBody } from '../schemas.ts'

const tags = ['secrets']

export function secretRoutes(api: FastifyInstance, { secrets }: AppContext): void {
  api.post<{ Body: { name: string; value: string; project?: string } }>('/secrets', { schema: { tags, summary: 'Store an encrypted secret (the value is never returned)', body: secretBody } }, async (req, reply) =>
    reply.status(201).send(await secrets.create(req.body)),
  )
  api.get('/secrets', { schema: { tags, summary: 'List secrets (names and scopes, no values)' } }, async () => ({ secrets: await secrets.list() }))
  api.get<{ Params: { id: string } }>('/secrets/:id', { schema: { tags, summary: 'One secret (no value)', params: idParams } }, async (req) => secrets.get(req.params.id))
  api.delete<{ Params: { id: string } }>('/secrets/:id', { schema: { tags, summary: 'Delete a secret (409 SECRET_IN_USE while a connector uses it)', params: idParams } }, async (req, reply) => {
    await secrets.delete(req.params.id)
    return reply.status(204).send()
  })
}
