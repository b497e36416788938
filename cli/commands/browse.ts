/** delegatectl images CONNECTOR, delegatectl tags CONNECTOR IMAGE */
import { Command } from 'commander'
import type { TaskView } from '../../manager/src/tasks.ts'
import { withCtx } from '../context.ts'
import { resolveConnector } from '../resolve.ts'
import { timeoutOption } from './connectors.ts'

type Task = Omit<TaskView, 'result'>

function imagesCommand(): Command {
  return new Command('images')
    .description('list the repositories of a registry (its catalog), one per line')
    .argument('<connector>', 'connector id or name')
    .addOption(timeoutOption())
    .action(
      withCtx(async (ctx, ref: string, o: { timeout?: number }) => {
        const c = await resolveConnector(ctx.client, ref)
        const q = o.timeout ? `?timeoutMs=${o.timeout}` : ''
        const answer = await ctx.client.call<{ images: string[]; truncated: boolean; task: Task }>('GET', `/connectors/${encodeURIComponent(c.id)}/images${q}`, undefined, o.timeout ?? 60_000)
        if (ctx.json) return ctx.outJson(answer)
        if (answer.images.length) ctx.out(answer.images.join('\n'))
        if (answer.truncated) ctx.note(`warning: the listing stopped early; these are the ${answer.images.length} images read (task ${answer.task.id})`)
      }),
    )
}

function tagsCommand(): Command {
  return new Command('tags')
    .description('list every tag of an image, sorted, one per line')
    .argument('<connector>', 'connector id or name')
    .argument('<image>', 'repository name, e.g. library/nginx (on Docker Hub, nginx works too)')
    .addOption(timeoutOption())
    .action(
      withCtx(async (ctx, ref: string, image: string, o: { timeout?: number }) => {
        const c = await resolveConnector(ctx.client, ref)
        const q = new URLSearchParams({ image })
        if (o.timeout) q.set('timeoutMs', String(o.timeout))
        const answer = await ctx.client.call<{ image: string; tags: string[]; truncated: boolean; task: Task }>('GET', `/connectors/${encodeURIComponent(c.id)}/tags?${q}`, undefined, o.timeout ?? 60_000)
        if (ctx.json) return ctx.outJson(answer)
        if (answer.tags.length) ctx.out(answer.tags.join('\n'))
        if (answer.truncated) ctx.note(`warning: a guard stopped the listing; these are the ${answer.tags.length} tags read (task ${answer.task.id})`)
      }),
    )
}

export const browseCommands = { images: imagesCommand, tags: tagsCommand }
