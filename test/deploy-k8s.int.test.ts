/**
 * The Kubernetes manifests in deploy/k8s, parsed and checked for what operators rely on (no
 * cluster here): probes, the token from a Secret, limits, a grace period longer than the drain,
 * replicas, non-root. Lives in the integration project only because of the include patterns.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { root } from './harness.ts'

const dir = join(root, 'deploy/k8s')

/** The parts of the manifests these tests read. */
interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string } }
}
interface Probe {
  httpGet?: { path: string; port: string | number }
}
interface Container {
  name: string
  args?: string[]
  env?: EnvVar[]
  ports?: { name?: string; containerPort: number }[]
  readinessProbe?: Probe
  livenessProbe?: Probe
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  securityContext?: { allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } }
  volumeMounts?: { name: string; mountPath: string }[]
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> }
  spec: {
    containers: Container[]
    terminationGracePeriodSeconds?: number
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number }
  }
}
interface Trigger {
  type: string
  name?: string
  metadata: Record<string, string>
}
interface Doc {
  apiVersion: string
  kind: string
  metadata: { name: string; annotations?: Record<string, string> }
  spec: {
    scaleTargetRef?: { name: string; kind?: string }
    minReplicaCount?: number
    maxReplicaCount?: number
    triggers?: Trigger[]
    replicas?: number
    selector?: Record<string, string>
    template: PodTemplate
    ports: { port: number }[]
    volumeClaimTemplates: { metadata: { name: string } }[]
  }
  resources?: string[]
  images?: { name: string }[]
}

function load(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`)
    return d.toJS() as Doc
  })
}

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
/** Applied on their own, by choice (they need more than the cluster itself: KEDA, Prometheus). */
const EXAMPLES = ['keda-scaledobject.yaml']
const docs = files.flatMap((f) => load(f))
const find = (kind: string, name: string): Doc => {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name)
  if (!doc) throw new Error(`no ${kind} ${name} in deploy/k8s`)
  return doc
}
const container = (d: Doc, name: string): Container => {
  const c = d.spec.template.spec.containers.find((x) => x.name === name)
  if (!c) throw new Error(`${d.kind} ${d.metadata.name} has no container ${name}`)
  return c
}
const env = (c: Container, name: string): EnvVar | undefined => c.env?.find((e) => e.name === name)
const defaultDrainGraceMs = (): number => {
  const m = /drainGraceMs:\s*{[^}]*default:\s*([\d_]+)/.exec(readFileSync(join(root, 'delegate/src/config.ts'), 'utf8'))
  if (!m) throw new Error('drainGraceMs default not found in delegate/src/config.ts')
  return Number(m[1]!.replaceAll('_', ''))
}

describe('Kubernetes manifests', () => {
  it('every file parses, and the kustomization lists every manifest but the examples, and both images', () => {
    const [k] = load('kustomization.yaml')
    expect(k!.kind).toBe('Kustomization')
    expect(new Set(k!.resources)).toEqual(new Set(files.filter((f) => f !== 'kustomization.yaml' && !EXAMPLES.includes(f))))
    for (const example of EXAMPLES) expect(files).toContain(example)
    expect(k!.images?.map((i) => i.name).sort()).toEqual(['registry-delegates/delegate', 'registry-delegates/manager'])
  })

  it('the manager has a readiness probe on /readyz, a liveness probe on /healthz, and a Service on its port', () => {
    const m = container(find('Deployment', 'manager'), 'manager')
    expect(m.readinessProbe?.httpGet?.path).toBe('/readyz')
    expect(m.livenessProbe?.httpGet?.path).toBe('/healthz')
    const svc = find('Service', 'manager')
    expect(svc.spec.selector).toEqual(find('Deployment', 'manager').spec.template.metadata.labels)
    expect(svc.spec.ports[0]?.port).toBe(Number(env(m, 'MANAGER_PORT')?.value))
    expect(env(m, 'MANAGER_API_KEY')?.valueFrom?.secretKeyRef?.name).toBeTruthy()
    expect(env(m, 'MANAGER_SECRETS_KEY')?.valueFrom?.secretKeyRef?.name).toBeTruthy()
  })

  it('delegates run as two replicas, with the token from a Secret and a grace period longer than the drain', () => {
    const d = find('Deployment', 'delegate')
    expect(d.spec.replicas).toBe(2)
    const c = container(d, 'delegate')
    expect(env(c, 'DELEGATE_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: 'delegate-token', key: 'token' })
    expect(env(c, 'DELEGATE_TOKEN')?.value).toBeUndefined()
    const drainMs = Number(env(c, 'DELEGATE_DRAIN_GRACE_MS')?.value ?? defaultDrainGraceMs())
    expect((d.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(drainMs)
    expect(c.readinessProbe?.httpGet?.port).toBe('health')
    expect(c.ports?.find((p) => p.name === 'health')?.containerPort).toBe(Number(env(c, 'DELEGATE_HEALTH_PORT')?.value))
  })

  it('every container has resource requests and a memory limit and runs as non-root without privilege escalation', () => {
    const workloads = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet')
    expect(workloads.map((w) => w.metadata.name).sort()).toEqual(['delegate', 'manager', 'redis'])
    for (const w of workloads) {
      const pod = w.spec.template.spec
      expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true)
      expect(pod.securityContext?.runAsUser, w.metadata.name).toBeGreaterThan(0)
      for (const c of pod.containers) {
        expect(c.resources?.requests?.cpu, c.name).toBeTruthy()
        expect(c.resources?.requests?.memory, c.name).toBeTruthy()
        expect(c.resources?.limits?.memory, c.name).toBeTruthy()
        expect(c.securityContext?.allowPrivilegeEscalation, c.name).toBe(false)
        expect(c.securityContext?.capabilities?.drop, c.name).toContain('ALL')
      }
    }
    expect(container(find('Deployment', 'delegate'), 'delegate').resources?.limits?.cpu).toBeTruthy()
    expect(container(find('Deployment', 'manager'), 'manager').resources?.limits?.cpu).toBeTruthy()
  })

  it('Redis keeps its state: append-only file on a persistent volume', () => {
    const r = find('StatefulSet', 'redis')
    expect(container(r, 'redis').args?.join(' ')).toMatch(/--appendonly yes/)
    expect(r.spec.volumeClaimTemplates[0]?.metadata.name).toBe(container(r, 'redis').volumeMounts?.[0]?.name)
    const manager = container(find('Deployment', 'manager'), 'manager')
    expect(env(manager, 'REDIS_URL')?.value).toBe(`redis://${find('Service', 'redis').metadata.name}:6379`)
  })

  it('the KEDA example scales the delegate Deployment on the tasks waiting for its tags (max over manager replicas) and on its load', async () => {
    const [so] = load('keda-scaledobject.yaml')
    expect(so).toMatchObject({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject' })
    const target = find('Deployment', so!.spec.scaleTargetRef!.name)
    expect(target.metadata.name).toBe('delegate')
    expect(so!.spec.minReplicaCount).toBeGreaterThanOrEqual(1)
    expect(so!.spec.minReplicaCount).toBeLessThanOrEqual(target.spec.replicas!)
    expect(so!.spec.maxReplicaCount).toBeGreaterThan(so!.spec.minReplicaCount!)
    const c = container(target, 'delegate')
    const capacity = Number(env(c, 'DELEGATE_CAPACITY')?.value)
    const tags = (env(c, 'DELEGATE_TAGS')?.value ?? '').split(',').map((t) => t.trim()).filter(Boolean)
    const triggers = so!.spec.triggers ?? []
    expect(triggers.every((t) => t.type === 'prometheus' && Number(t.metadata.threshold) > 0)).toBe(true)
    const waiting = triggers.find((t) => t.metadata.query?.includes('rd_tasks_waiting_for_delegate'))!
    // every replica reports the installation-wide count: max over replicas for each set, never sum of the raw series
    expect(waiting.metadata.query).toMatch(/max by \(selectors\) \(rd_tasks_waiting_for_delegate\{/)
    const sets = /selectors=~"([^"]*)"/.exec(waiting.metadata.query!)![1]!.split('|')
    expect(new Set(sets)).toEqual(new Set(['', tags.join(',')]))
    expect(Number(waiting.metadata.threshold)).toBe(capacity)
    const busy = triggers.find((t) => t.metadata.query?.includes('rd_delegate_active_tasks'))!
    expect(Number(busy.metadata.threshold)).toBeLessThanOrEqual(capacity)
    // the delegates' /metrics are scraped where KEDA's Prometheus looks for them
    expect(target.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(c.ports?.find((p) => p.name === 'health')?.containerPort), 'prometheus.io/path': '/metrics' })
    // and the queries are PromQL Prometheus accepts
    const rulesDir = mkdtempSync(join(tmpdir(), 'rd-keda-'))
    writeFileSync(join(rulesDir, 'rules.yml'), `groups:\n  - name: keda\n    rules:\n${triggers.map((t, i) => `      - record: keda:q_${i}\n        expr: ${JSON.stringify(t.metadata.query)}`).join('\n')}\n`)
    const { stdout } = await promisify(execFile)(process.env.PROMTOOL_PATH ?? 'promtool', ['check', 'rules', join(rulesDir, 'rules.yml')])
    expect(stdout).toContain(`SUCCESS: ${triggers.length} rules found`)
  })
})
