import { Args } from '@oclif/core';
import { BaseCommand, UsageError } from '../../cli/base-command';
import { kindName } from '../../cli/printer';
import { parseWorkloadTarget, retryOnConflict } from '../scale';

export default class SetImage extends BaseCommand<typeof SetImage> {
  static summary = 'Update the image of a pod template.';

  static description = 'Sets the image of containers in a Deployment\'s or ReplicaSet\'s pod template, like kubectl set image. CONTAINER=IMAGE pairs name the containers; * names them all.';

  static examples = ['<%= config.bin %> set image deployment/web web=nginx:1.27', '<%= config.bin %> set image deploy web *=busybox:1.37'];

  static strict = false;

  static args = {
    resource: Args.string({ description: 'KIND/NAME CONTAINER=IMAGE...', required: true }),
  };

  public async run(): Promise<{ changed: boolean }> {
    const pairs = this.positional.filter((a) => a.includes('='));
    const rest = this.positional.filter((a) => !a.includes('='));
    if (pairs.length === 0) throw new UsageError('at least one image update is required');
    const images = new Map<string, string>();
    for (const p of pairs) {
      const i = p.indexOf('=');
      images.set(p.slice(0, i), p.slice(i + 1));
    }
    const target = parseWorkloadTarget(rest, (k) => this.resourceType(k), ['deployments', 'replicasets']);
    const ns = this.namespace();
    const client = this.client();
    const changed = await retryOnConflict(async () => {
      const obj = await client.get(target.rt, ns, target.name);
      const spec = obj.spec?.template?.spec ?? {};
      const patch: Record<string, unknown[]> = {};
      const matched = new Set<string>();
      for (const field of ['initContainers', 'containers'] as const) {
        const list: any[] = spec[field] ?? [];
        let touched = false;
        const updated = list.map((c) => {
          const image = images.get(c.name) ?? images.get('*');
          if (image === undefined) return c;
          matched.add(c.name);
          if (c.image === image) return c;
          touched = true;
          return { ...c, image };
        });
        // A merge patch replaces lists whole: send every container, changed or not.
        if (touched) patch[field] = updated;
      }
      for (const name of images.keys()) {
        if (name !== '*' && !matched.has(name)) throw new UsageError(`unable to find container named "${name}"`);
      }
      if (Object.keys(patch).length === 0) return false;
      await client.patch(target.rt, ns, target.name, { metadata: { resourceVersion: obj.metadata.resourceVersion }, spec: { template: { spec: patch } } }, 'merge');
      return true;
    });
    this.log(`${kindName(target.rt)}/${target.name} ${changed ? 'image updated' : 'unchanged'}`);
    return { changed };
  }
}
