/**
 * A delegate task runner for API tests: answers like a registry would, without one. A registry
 * URL containing "refuse" fails with INVALID_CREDENTIALS; every run is recorded (with the
 * password the delegate resolved) so that tests can see what reached the delegate.
 */
import type { TaskResult, TaskSpec } from '../protocol/src/index.ts'
import type { TaskRunner } from '../delegate/src/delegate.ts'
import { RegistryError } from '../delegate/src/registry/errors.ts'

export interface ScriptedRunner extends TaskRunner {
  ran: TaskSpec[]
}

export function scriptedRegistry(): ScriptedRunner {
  const ran: TaskSpec[] = []
  return {
    ran,
    async run(task) {
      ran.push(task)
      if (task.registry.url.includes('refuse')) throw new RegistryError('INVALID_CREDENTIALS', 'the registry refused these credentials; check the username and password')
      return answer(task)
    },
    async close() {},
  }
}

function answer(task: TaskSpec): TaskResult {
  switch (task.type) {
    case 'validate-connector':
      return { type: 'validate-connector', url: task.registry.url, apiVersion: 'registry/2.0', authScheme: task.registry.password ? 'basic' : 'none' }
    case 'list-images':
      return { type: 'list-images', images: ['library/nginx', 'team/app'], truncated: false }
    case 'list-tags':
      return { type: 'list-tags', image: task.image ?? '', tags: ['1.0', '1.1', 'latest'], truncated: false }
  }
}
