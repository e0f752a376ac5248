import { lookupResource } from '../src/api/registry';
import { recordManagedFields, takeManagedFields } from '../src/api/managed-fields';
import { validateObject } from '../src/api/validation';

const pods = lookupResource('', 'v1', 'pods')!;
function pod(i: number): any {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `bench-${i}`, namespace: 'default', labels: { app: 'bench', tier: 'web', shard: String(i % 16) } },
    spec: { containers: [{ name: 'web', image: 'busybox:1.36', command: ['httpd', '-f', '-p', '8080'], ports: [{ containerPort: 8080, name: 'http' }],
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } }, env: [{ name: 'MODE', value: 'bench' }] }], restartPolicy: 'Always' },
  };
}
const N = 5000;
function time(label: string, setup: (i: number) => any, fn: (x: any, i: number) => void): void {
  let best = Infinity;
  for (let round = 0; round < 7; round++) {
    const inputs = Array.from({ length: N }, (_, i) => setup(i));
    const t = performance.now();
    for (let i = 0; i < N; i++) fn(inputs[i], i);
    best = Math.min(best, ((performance.now() - t) * 1000) / N);
  }
  console.log(`${label.padEnd(52)} ${best.toFixed(1)} µs/op (best of 7)`);
}
const now = new Date();
const defaulted = (i: number) => { const p = pod(i); pods.defaults?.(p); return p; };
time('validate a created pod (for scale)', defaulted, (p) => validateObject(pods, p, undefined, 'Warn'));
time('JSON.stringify of a pod (for scale)', defaulted, (p) => JSON.stringify(p));
time('create: managedFields', defaulted, (p) => recordManagedFields(pods, undefined, p, takeManagedFields(p), { manager: 'kubectl-create', now }));
const created = defaulted(0);
recordManagedFields(pods, undefined, created, undefined, { manager: 'kubectl-create', now });
created.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] };
const json = JSON.stringify(created);
time('status write: managedFields', (i) => {
  const old = JSON.parse(json);
  const next = JSON.parse(json);
  next.status = { phase: 'Running', podIP: `10.0.0.${i % 250}`, conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: i % 2 ? 'True' : 'False' }],
    containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: { startedAt: '2024-01-01T00:00:00Z' } } }] };
  return [old, next];
}, ([old, next]) => recordManagedFields(pods, old, next, undefined, { manager: 'mk', subresource: 'status', now }));
time('label patch: managedFields', (i) => {
  const old = JSON.parse(json);
  const next = JSON.parse(json);
  next.metadata.labels.extra = String(i);
  return [old, next];
}, ([old, next]) => recordManagedFields(pods, old, next, takeManagedFields(next), { manager: 'kubectl-label', now }));
time('JSON.parse of a created pod (for scale)', () => json, (j) => JSON.parse(j));
