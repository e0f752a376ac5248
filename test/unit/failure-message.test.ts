import { countReasons, failureMessage } from '../../src/scheduler/failure-message';
import type { FilterResult } from '../../src/scheduler/framework';

describe('failureMessage', () => {
  it.each<[number, [string, number][], string]>([
    [
      3,
      [
        ["node(s) didn't match Pod's node affinity/selector", 2],
        ['Insufficient cpu', 1],
      ],
      "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.",
    ],
    [
      1,
      [['node(s) had untolerated taint {node.kubernetes.io/unreachable: }', 1]],
      '0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.',
    ],
    [
      5,
      [
        ['Too many pods', 3],
        ['node(s) were unschedulable', 2],
      ],
      '0/5 nodes are available: 2 node(s) were unschedulable, 3 Too many pods.',
    ],
    // Go sorts the whole "<count> <reason>" strings, so 10 comes before 2.
    [
      12,
      [
        ['Insufficient cpu', 2],
        ['Too many pods', 10],
      ],
      '0/12 nodes are available: 10 Too many pods, 2 Insufficient cpu.',
    ],
    // One node may give several reasons, so counts can add up to more than the nodes.
    [
      2,
      [
        ['Insufficient memory', 2],
        ['Insufficient cpu', 2],
      ],
      '0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.',
    ],
    [4, [], '0/4 nodes are available:'],
    [0, [], 'no nodes available to schedule pods'],
  ])('%d nodes, %j', (total, reasons, message) => {
    expect(failureMessage(total, new Map(reasons))).toBe(message);
  });
});

describe('countReasons', () => {
  it('counts every reason of every failing node once', () => {
    const results: FilterResult[] = [
      'Insufficient cpu',
      Object.freeze(['Insufficient cpu', 'Insufficient memory']),
      undefined,
      "node(s) didn't match the requested node name",
    ];
    const reasons = new Map<string, number>();
    for (const r of results) countReasons(reasons, r);
    expect(Object.fromEntries(reasons)).toEqual({
      'Insufficient cpu': 2,
      'Insufficient memory': 1,
      "node(s) didn't match the requested node name": 1,
    });
    expect(failureMessage(4, reasons)).toBe(
      "0/4 nodes are available: 1 Insufficient memory, 1 node(s) didn't match the requested node name, 2 Insufficient cpu.",
    );
  });
});
