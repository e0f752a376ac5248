import { SKIP, type CycleState, type FilterPlugin, type PodInfo } from '../framework';

/**
 * NodePorts: a host port can be bound once per node, protocol and address.
 * An address of 0.0.0.0 binds every address, so it conflicts with the same
 * port and protocol on any address, and any address conflicts with it
 * (kube-scheduler's `HostPortInfo.CheckConflict`).
 */

const REASON = "node(s) didn't have free ports for the requested pod ports";
const STATE = 'NodePorts';
const ALL_ADDRESSES = '0.0.0.0';

/** One wanted port, with the keys and key parts its conflict checks look up. */
interface WantedPort {
  /** `protocol/hostIP/port`, as in NodeInfo.usedHostPorts. */
  key: string;
  /** The same port and protocol on 0.0.0.0, which any address conflicts with. */
  wildcardKey: string;
  /** For a 0.0.0.0 port: any used key with this prefix and suffix conflicts. */
  anyAddress?: { prefix: string; suffix: string };
}

function wantedPorts(pod: PodInfo, state: CycleState): WantedPort[] | null {
  let wanted = state.get(STATE) as WantedPort[] | null | undefined;
  if (wanted !== undefined) return wanted;
  wanted =
    pod.hostPorts.length === 0
      ? null
      : pod.hostPorts.map((key) => {
          const first = key.indexOf('/');
          const last = key.lastIndexOf('/');
          const protocol = key.slice(0, first);
          const ip = key.slice(first + 1, last);
          const port = key.slice(last + 1);
          const w: WantedPort = { key, wildcardKey: `${protocol}/${ALL_ADDRESSES}/${port}` };
          if (ip === ALL_ADDRESSES) w.anyAddress = { prefix: `${protocol}/`, suffix: `/${port}` };
          return w;
        });
  state.set(STATE, wanted);
  return wanted;
}

export const nodePortsFilter: FilterPlugin = {
  name: 'NodePorts',
  prepare(pod, state) {
    return wantedPorts(pod, state) === null ? SKIP : undefined;
  },
  filter(pod, node, state) {
    const used = node.usedHostPorts;
    if (used.size === 0) return undefined;
    const wanted = wantedPorts(pod, state);
    if (wanted === null) return undefined;
    for (const w of wanted) {
      if (w.anyAddress) {
        const { prefix, suffix } = w.anyAddress;
        for (const key of used.keys()) if (key.startsWith(prefix) && key.endsWith(suffix)) return REASON;
      } else if (used.has(w.key) || used.has(w.wildcardKey)) {
        return REASON;
      }
    }
    return undefined;
  },
};
