import { LAST_APPLIED_ANNOTATION, withLastApplied } from '../../src/commands/apply';
import { parseDuration } from '../../src/commands/delete';

describe('apply: the last-applied annotation', () => {
  it('is the manifest without itself, keys sorted, with a trailing newline, as kubectl writes it', () => {
    const manifest = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'web', namespace: 'default', annotations: { [LAST_APPLIED_ANNOTATION]: 'stale' } },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    };
    const annotated = withLastApplied(manifest);
    expect(annotated.metadata.annotations![LAST_APPLIED_ANNOTATION]).toBe(
      '{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"containers":[{"image":"busybox","name":"app"}]}}\n',
    );
    expect(manifest.metadata.annotations[LAST_APPLIED_ANNOTATION]).toBe('stale');
  });

  it('keeps the manifest\'s own annotations', () => {
    const annotated = withLastApplied({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', annotations: { team: 'a' } } });
    expect(annotated.metadata.annotations!.team).toBe('a');
    expect(JSON.parse(annotated.metadata.annotations![LAST_APPLIED_ANNOTATION]!).metadata.annotations).toEqual({ team: 'a' });
  });
});

describe('delete: --timeout durations', () => {
  it.each([
    ['0s', 0],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['15', 15_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('rejects nonsense', () => {
    expect(() => parseDuration('soon')).toThrow('invalid duration "soon"');
  });
});
