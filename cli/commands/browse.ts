/** delegatectl images CONNECTOR, delegatectl tags CONNECTOR IMAGE */
import { Command } from 'commander'
import type { TaskView } from '../../manager/src/tasks.ts'
import { withCtx } from '../context.ts'
import { printableInLine } from '../printable.ts'
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
        const answer = await ctx.client.call<{ images: string[]; truncated: boolean; skipped?: number; task: Task }>('GET', `/connectors/${encodeURIComponent(c.id)}/images${q}`, undefined, o.timeout ?? 60_000)
        if (ctx.json) return ctx.outJson(answer)
        // one entry per line, whatever an entry holds
        if (answer.images.length) ctx.out(answer.images.map(printableInLine).join('\n'))
        if (answer.truncated) ctx.note(`warning: the listing stopped early; these are the ${answer.images.length} images read (task ${answer.task.id})`)
        if (answer.skipped) ctx.note(skippedNote(answer.skipped, 'repository names'))
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
        const answer = await ctx.client.call<{ image: string; tags: string[]; truncated: boolean; skipped?: number; task: Task }>('GET', `/connectors/${encodeURIComponent(c.id)}/tags?${q}`, undefined, o.timeout ?? 60_000)
        if (ctx.json) return ctx.outJson(answer)
        if (answer.tags.length) ctx.out(answer.tags.map(printableInLine).join('\n'))
        if (answer.truncated) ctx.note(`warning: a guard stopped the listing; these are the ${answer.tags.length} tags read (task ${answer.task.id})`)
        if (answer.skipped) ctx.note(skippedNote(answer.skipped, 'tags'))
      }),
    )
}

function skippedNote(count: number, what: string): string {
  return `note: the registry listed ${count} ${what} that do not fit the distribution grammar; they are left out`
}

export const browseCommands = { images: imagesCommand, tags: tagsCommand }
