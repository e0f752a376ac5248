import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { KubeObject } from '../api/types';
import { expand, fieldPathValue, objectData, resourceFieldValue, type EnvContext } from './env';
import type { Mount } from './runtime/runtime';

/**
 * Pod volumes on the node, under `<dataDir>/pods/<uid>/volumes/<name>`:
 * emptyDir (a directory the pod's containers share, removed with the pod),
 * hostPath (the node's own path, checked or created per `type`), and
 * configMap, secret, downwardAPI and projected volumes, whose files are
 * written the way the kubelet's AtomicWriter does: into a fresh
 * `..<timestamp>` directory, published by renaming a `..data` symlink over
 * the old one, with each top-level name a symlink through `..data`. A reader
 * inside the container therefore sees the old set of files or the new one,
 * never a mix.
 */

/** A volume cannot be set up (kubelet: FailedMount); the pod waits in ContainerCreating. */
export class MountError extends Error {
  constructor(
    readonly volume: string,
    readonly detail: string,
  ) {
    super(`MountVolume.SetUp failed for volume "${volume}" : ${detail}`);
    this.name = 'MountError';
  }
}

export interface PreparedVolume {
  path: string;
  /** configMap, secret, downwardAPI and projected volumes are always mounted read-only. */
  readOnly: boolean;
  /** Whether its content is a symlinked AtomicWriter tree (subPath must resolve the link). */
  atomic: boolean;
}

interface FilePayload {
  data: Buffer;
  mode: number;
}

type VolumeContext = Pick<EnvContext, 'read' | 'podIPs' | 'hostIPs' | 'allocatable'>;

const DEFAULT_MODE = 0o644;

export class VolumeManager {
  /** Hash of the payload last published per volume directory, so unchanged syncs skip the disk. */
  private readonly published = new Map<string, string>();
  /** Volume directories known to exist (emptyDir), per pod. */
  private readonly created = new Set<string>();

  constructor(private readonly dataDir: string) {}

  podDir(uid: string): string {
    return path.join(this.dataDir, 'pods', uid);
  }

  volumeDir(uid: string, name: string): string {
    return path.join(this.podDir(uid), 'volumes', name);
  }

  /** Makes every volume of the pod present and current. Throws MountError for the first that cannot be. */
  async setup(pod: KubeObject, ctx: VolumeContext): Promise<Map<string, PreparedVolume>> {
    const uid = pod.metadata.uid!;
    const out = new Map<string, PreparedVolume>();
    for (const v of pod.spec?.volumes ?? []) {
      const dir = this.volumeDir(uid, v.name);
      try {
        if (v.hostPath) {
          out.set(v.name, { path: await hostPath(v.hostPath), readOnly: false, atomic: false });
        } else if (v.emptyDir) {
          if (!this.created.has(dir)) {
            await fsp.mkdir(dir, { recursive: true });
            // Any user of any container may write it, as with the kubelet's emptyDir.
            await fsp.chmod(dir, 0o777);
            this.created.add(dir);
          }
          out.set(v.name, { path: dir, readOnly: false, atomic: false });
        } else if (v.configMap || v.secret || v.downwardAPI || v.projected) {
          const files = await this.payload(pod, v, ctx);
          await this.publish(dir, files);
          out.set(v.name, { path: dir, readOnly: true, atomic: true });
        } else {
          const type = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
          throw new Error(`volume type ${type} is not supported by mk`);
        }
      } catch (err) {
        throw err instanceof MountError ? err : new MountError(v.name, (err as Error).message);
      }
    }
    return out;
  }

  /** The runtime mounts of a container; subPath (and subPathExpr against its env) point inside the volume. */
  async mounts(container: any, volumes: Map<string, PreparedVolume>, env: Array<{ name: string; value: string }>): Promise<Mount[]> {
    const vars = new Map(env.map((e) => [e.name, e.value]));
    const out: Mount[] = [];
    for (const m of container.volumeMounts ?? []) {
      const vol = volumes.get(m.name);
      if (!vol) throw new MountError(m.name, `volume "${m.name}" is not defined in the pod`);
      let hostPath = vol.path;
      const sub = m.subPathExpr ? expand(m.subPathExpr, (n) => vars.get(n)) : m.subPath;
      if (sub) {
        const rel = path.normalize(sub);
        if (path.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) throw new MountError(m.name, `subPath "${sub}" must not leave the volume`);
        hostPath = path.join(vol.path, rel);
        if (vol.atomic) {
          // A subPath mount of a configMap file is that file as it is now (it does not follow updates, as in Kubernetes).
          hostPath = await fsp.realpath(hostPath).catch(() => hostPath);
        } else {
          await fsp.mkdir(hostPath, { recursive: true }).catch(() => undefined);
        }
      }
      out.push({ hostPath, containerPath: m.mountPath, readOnly: vol.readOnly || !!m.readOnly });
    }
    return out;
  }

  /** Removes everything the pod had on disk (never following symlinks: hostPath targets stay). */
  async remove(uid: string): Promise<void> {
    const dir = this.podDir(uid);
    for (const key of this.published.keys()) if (key.startsWith(dir + path.sep)) this.published.delete(key);
    for (const key of this.created) if (key.startsWith(dir + path.sep)) this.created.delete(key);
    await fsp.rm(dir, { recursive: true, force: true });
  }

  /** The files a configMap, secret, downwardAPI or projected volume should hold. */
  private async payload(pod: KubeObject, v: any, ctx: VolumeContext): Promise<Map<string, FilePayload>> {
    const files = new Map<string, FilePayload>();
    if (v.projected) {
      const mode = v.projected.defaultMode ?? DEFAULT_MODE;
      for (const s of v.projected.sources ?? []) {
        if (s.configMap) await this.objectFiles(pod, 'ConfigMap', s.configMap.name, s.configMap, mode, ctx, files);
        else if (s.secret) await this.objectFiles(pod, 'Secret', s.secret.name, s.secret, mode, ctx, files);
        else if (s.downwardAPI) downwardFiles(pod, s.downwardAPI.items, mode, ctx, files);
        // serviceAccountToken and clusterTrustBundle sources have nothing to project in mk yet.
      }
    } else if (v.configMap) {
      await this.objectFiles(pod, 'ConfigMap', v.configMap.name, v.configMap, v.configMap.defaultMode ?? DEFAULT_MODE, ctx, files);
    } else if (v.secret) {
      await this.objectFiles(pod, 'Secret', v.secret.secretName, v.secret, v.secret.defaultMode ?? DEFAULT_MODE, ctx, files);
    } else if (v.downwardAPI) {
      downwardFiles(pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? DEFAULT_MODE, ctx, files);
    }
    return files;
  }

  private async objectFiles(
    pod: KubeObject, kind: 'ConfigMap' | 'Secret', name: string, source: any, mode: number, ctx: VolumeContext, files: Map<string, FilePayload>,
  ): Promise<void> {
    const obj = await ctx.read(kind, pod.metadata.namespace ?? 'default', name);
    if (!obj) {
      if (source.optional) return;
      throw new Error(`${kind === 'ConfigMap' ? 'configmap' : 'secret'} "${name}" not found`);
    }
    const data = objectData(obj);
    if (!source.items?.length) {
      for (const [key, value] of Object.entries(data)) files.set(key, { data: value, mode });
      return;
    }
    for (const item of source.items) {
      const value = data[item.key];
      if (value === undefined) {
        if (source.optional) continue;
        throw new Error(kind === 'ConfigMap' ? `configmap references non-existent config key: ${item.key}` : `references non-existent secret key: ${item.key}`);
      }
      files.set(item.path, { data: value, mode: item.mode ?? mode });
    }
  }

  /** Publishes `files` into `dir` atomically, unless it already holds exactly them. */
  private async publish(dir: string, files: Map<string, FilePayload>): Promise<void> {
    const hash = payloadHash(files);
    if (this.published.get(dir) === hash) return;
    await fsp.mkdir(dir, { recursive: true });
    const dataLink = path.join(dir, '..data');
    const oldTarget = await fsp.readlink(dataLink).catch(() => undefined);
    if (oldTarget && (await sameContent(path.join(dir, oldTarget), files))) {
      this.published.set(dir, hash);
      return;
    }

    const stamp = new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*$/, '');
    const tsName = `..${stamp}.${randomBytes(4).toString('hex')}`;
    const tsDir = path.join(dir, tsName);
    await fsp.mkdir(tsDir, { mode: 0o755 });
    for (const [rel, file] of files) {
      const target = safeJoin(tsDir, rel);
      await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      await fsp.writeFile(target, file.data, { mode: file.mode });
      await fsp.chmod(target, file.mode);
    }
    const tmpLink = path.join(dir, '..data_tmp');
    await fsp.rm(tmpLink, { force: true });
    await fsp.symlink(tsName, tmpLink);
    await fsp.rename(tmpLink, dataLink);

    const wanted = new Set([...files.keys()].map((rel) => path.normalize(rel).split(path.sep)[0]));
    for (const name of wanted) {
      const link = path.join(dir, name);
      const current = await fsp.readlink(link).catch(() => undefined);
      if (current !== path.join('..data', name)) {
        await fsp.rm(link, { force: true, recursive: true });
        await fsp.symlink(path.join('..data', name), link);
      }
    }
    for (const entry of await fsp.readdir(dir)) {
      if (entry.startsWith('..') || wanted.has(entry)) continue;
      await fsp.rm(path.join(dir, entry), { force: true, recursive: true });
    }
    if (oldTarget && oldTarget !== tsName) await fsp.rm(path.join(dir, oldTarget), { recursive: true, force: true });
    this.published.set(dir, hash);
  }
}

function downwardFiles(pod: KubeObject, items: any[] | undefined, mode: number, ctx: VolumeContext, files: Map<string, FilePayload>): void {
  for (const item of items ?? []) {
    let value: string;
    if (item.fieldRef) value = fieldPathValue(pod, item.fieldRef.fieldPath, ctx);
    else if (item.resourceFieldRef) {
      const container = (pod.spec?.containers ?? []).find((c: any) => c.name === item.resourceFieldRef.containerName) ?? {};
      value = resourceFieldValue(pod, container, item.resourceFieldRef, ctx.allocatable);
    } else continue;
    files.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? mode });
  }
}

function safeJoin(root: string, rel: string): string {
  const norm = path.normalize(rel);
  // Names starting with '..' are the writer's own (..data, ..<timestamp>), as in Kubernetes.
  if (path.isAbsolute(norm) || norm.startsWith('..')) {
    throw new Error(`invalid path "${rel}": must be relative and may not start with '..'`);
  }
  return path.join(root, norm);
}

function payloadHash(files: Map<string, FilePayload>): string {
  const h = createHash('sha256');
  for (const rel of [...files.keys()].sort()) {
    const f = files.get(rel)!;
    h.update(`${rel}\0${f.mode}\0${f.data.length}\0`);
    h.update(f.data);
  }
  return h.digest('hex');
}

/** Whether a published `..<timestamp>` directory holds exactly these files and modes (after an agent restart). */
async function sameContent(dir: string, files: Map<string, FilePayload>): Promise<boolean> {
  try {
    const found = await listFiles(dir);
    if (found.length !== files.size) return false;
    for (const rel of found) {
      const want = files.get(rel);
      if (!want) return false;
      const full = path.join(dir, rel);
      const [stat, data] = await Promise.all([fsp.stat(full), fsp.readFile(full)]);
      if ((stat.mode & 0o7777) !== want.mode || !data.equals(want.data)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? path.join(prefix, e.name) : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

/** Checks or creates a hostPath volume per its `type`; returns the path to mount. */
async function hostPath(source: any): Promise<string> {
  const p: string = source.path;
  const type: string = source.type ?? '';
  const stat = await fsp.stat(p).catch(() => undefined);
  const fail = (what: string) => new Error(`hostPath type check failed: ${p} is not ${what}`);
  switch (type) {
    case '':
      return p;
    case 'DirectoryOrCreate':
      if (!stat) await fsp.mkdir(p, { recursive: true, mode: 0o755 });
      else if (!stat.isDirectory()) throw fail('a directory');
      return p;
    case 'Directory':
      if (!stat?.isDirectory()) throw fail('a directory');
      return p;
    case 'FileOrCreate':
      if (!stat) await (await fsp.open(p, 'a', 0o644)).close();
      else if (!stat.isFile()) throw fail('a file');
      return p;
    case 'File':
      if (!stat?.isFile()) throw fail('a file');
      return p;
    case 'Socket':
      if (!stat?.isSocket()) throw fail('a socket file');
      return p;
    case 'CharDevice':
      if (!stat?.isCharacterDevice()) throw fail('a character device');
      return p;
    case 'BlockDevice':
      if (!stat?.isBlockDevice()) throw fail('a block device');
      return p;
    default:
      throw new Error(`hostPath type ${type} is not supported`);
  }
}
