import { parseResolvConf, podDnsConfig, type ClusterDnsSettings } from '../../src/agent/dns/pod-dns';
import { resolveEnv, type EnvContext } from '../../src/agent/env';
import { serviceEnvForPod, serviceEnvVars } from '../../src/agent/service-env';
import type { KubeObject } from '../../src/api/types';

/** What the agent gives containers about Services: environment variables and resolv.conf. */

function service(ns: string, name: string, spec: Record<string, any>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec };
}

function pod(ns: string, spec: Record<string, any> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name: 'p', uid: 'u-1' }, spec: { containers: [{ name: 'c' }], ...spec } };
}

const kubernetes = service('default', 'kubernetes', { clusterIP: '10.43.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] });
const web = service('prod', 'my-web', {
  clusterIP: '10.43.0.5',
  ports: [
    { name: 'http', port: 80, protocol: 'TCP' },
    { name: 'dns-udp', port: 53, protocol: 'UDP' },
  ],
});

describe('service environment variables', () => {
  it('are the kubelet\'s, for every port', () => {
    expect(Object.fromEntries(serviceEnvVars(web).map((v) => [v.name, v.value]))).toEqual({
      MY_WEB_SERVICE_HOST: '10.43.0.5',
      MY_WEB_SERVICE_PORT: '80',
      MY_WEB_SERVICE_PORT_HTTP: '80',
      MY_WEB_SERVICE_PORT_DNS_UDP: '53',
      MY_WEB_PORT: 'tcp://10.43.0.5:80',
      MY_WEB_PORT_80_TCP: 'tcp://10.43.0.5:80',
      MY_WEB_PORT_80_TCP_PROTO: 'tcp',
      MY_WEB_PORT_80_TCP_PORT: '80',
      MY_WEB_PORT_80_TCP_ADDR: '10.43.0.5',
      MY_WEB_PORT_53_UDP: 'udp://10.43.0.5:53',
      MY_WEB_PORT_53_UDP_PROTO: 'udp',
      MY_WEB_PORT_53_UDP_PORT: '53',
      MY_WEB_PORT_53_UDP_ADDR: '10.43.0.5',
    });
  });

  it('cover the pod\'s namespace and the kubernetes Service, not headless or ExternalName ones', () => {
    const all = [
      kubernetes,
      web,
      service('prod', 'headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
      service('prod', 'ext', { type: 'ExternalName', externalName: 'example.org' }),
      service('other', 'elsewhere', { clusterIP: '10.43.0.9', ports: [{ port: 80 }] }),
      service('default', 'neighbour', { clusterIP: '10.43.0.8', ports: [{ port: 80 }] }),
    ];
    const names = [...serviceEnvForPod(pod('prod'), all).keys()];
    expect(names).toContain('KUBERNETES_SERVICE_HOST');
    expect(names).toContain('KUBERNETES_PORT_443_TCP');
    expect(names).toContain('MY_WEB_SERVICE_HOST');
    expect(names.filter((n) => /HEADLESS|EXT_|ELSEWHERE|NEIGHBOUR/.test(n))).toEqual([]);
  });

  it('are only the kubernetes Service\'s with enableServiceLinks false', () => {
    const vars = serviceEnvForPod(pod('prod', { enableServiceLinks: false }), [kubernetes, web]);
    expect([...vars.keys()].every((n) => n.startsWith('KUBERNETES_'))).toBe(true);
    expect(vars.get('KUBERNETES_SERVICE_HOST')).toBe('10.43.0.1');
    expect(vars.get('KUBERNETES_SERVICE_PORT_HTTPS')).toBe('443');
  });

  it('let a Service named kubernetes in the pod\'s namespace win over default\'s', () => {
    const own = service('prod', 'kubernetes', { clusterIP: '10.43.0.99', ports: [{ port: 8443 }] });
    expect(serviceEnvForPod(pod('prod'), [own, kubernetes]).get('KUBERNETES_SERVICE_HOST')).toBe('10.43.0.99');
    expect(serviceEnvForPod(pod('prod'), [kubernetes, own]).get('KUBERNETES_SERVICE_HOST')).toBe('10.43.0.99');
  });

  it('come after the container\'s own, which win, and can be referred to with $(NAME)', async () => {
    const ctx: EnvContext = {
      pod: pod('prod'),
      podIPs: [],
      hostIPs: [],
      allocatable: { cpu: '1', memory: '1Gi' },
      read: async () => undefined,
      serviceEnv: serviceEnvForPod(pod('prod'), [kubernetes, web]),
    };
    const { env } = await resolveEnv({ name: 'c', env: [{ name: 'URL', value: 'http://$(MY_WEB_SERVICE_HOST):$(MY_WEB_SERVICE_PORT)/' }, { name: 'MY_WEB_SERVICE_PORT', value: '8080' }] }, ctx);
    const vars = new Map(env.map((e) => [e.name, e.value]));
    expect(env[0]).toEqual({ name: 'URL', value: 'http://10.43.0.5:80/' });
    expect(vars.get('MY_WEB_SERVICE_PORT')).toBe('8080');
    expect(vars.get('KUBERNETES_SERVICE_HOST')).toBe('10.43.0.1');
    expect(env.findIndex((e) => e.name === 'KUBERNETES_SERVICE_HOST')).toBeGreaterThan(1);
  });
});

describe("a pod's resolv.conf", () => {
  const host = parseResolvConf('# comment\nnameserver 192.0.2.53\nnameserver 127.0.0.53\nsearch corp.example lab.example\noptions edns0 ndots:2\n');
  const settings: ClusterDnsSettings = { clusterDNS: ['10.43.0.10'], clusterDomain: 'cluster.local', host };

  it('parses the host resolv.conf', () => {
    expect(host).toEqual({ nameservers: ['192.0.2.53', '127.0.0.53'], searches: ['corp.example', 'lab.example'], options: ['edns0', 'ndots:2'] });
  });

  it('ClusterFirst: the cluster DNS, the namespace search path before the host\'s, ndots:5', () => {
    expect(podDnsConfig(pod('prod'), settings)).toEqual({
      dns: {
        nameservers: ['10.43.0.10'],
        searches: ['prod.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'],
        options: ['ndots:5'],
      },
      warnings: [],
    });
  });

  it('merges dnsConfig over the policy\'s, options by name', () => {
    const p = pod('prod', { dnsConfig: { nameservers: ['192.0.2.1'], searches: ['extra.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } });
    expect(podDnsConfig(p, settings).dns).toEqual({
      nameservers: ['10.43.0.10', '192.0.2.1'],
      searches: ['prod.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example'],
      options: ['ndots:2', 'edns0'],
    });
  });

  it('Default keeps the runtime\'s (the host\'s) resolver, and None only dnsConfig', () => {
    expect(podDnsConfig(pod('prod', { dnsPolicy: 'Default' }), settings)).toEqual({ dns: undefined, warnings: [] });
    // With dnsConfig on Default, the host's is spelled out without loopback servers, which would be the pod's own.
    expect(podDnsConfig(pod('prod', { dnsPolicy: 'Default', dnsConfig: { searches: ['x.example'] } }), settings).dns).toEqual({
      nameservers: ['192.0.2.53'],
      searches: ['corp.example', 'lab.example', 'x.example'],
      options: ['edns0', 'ndots:2'],
    });
    expect(podDnsConfig(pod('prod', { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'] } }), settings).dns).toEqual({ nameservers: ['1.2.3.4'], searches: [], options: [] });
  });

  it('hostNetwork pods resolve like the host unless ClusterFirstWithHostNet', () => {
    expect(podDnsConfig(pod('prod', { hostNetwork: true }), settings).dns).toBeUndefined();
    expect(podDnsConfig(pod('prod', { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), settings).dns?.nameservers).toEqual(['10.43.0.10']);
  });

  it('without a cluster DNS, ClusterFirst falls back to the host\'s with the kubelet\'s event', () => {
    const r = podDnsConfig(pod('prod'), { ...settings, clusterDNS: [] });
    expect(r.dns).toBeUndefined();
    expect(r.warnings).toEqual([
      {
        reason: 'MissingClusterDNS',
        message: 'pod: "p_prod(u-1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
      },
    ]);
  });

  it('keeps to glibc\'s limits: three nameservers, 32 search paths', () => {
    const p = pod('prod', { dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3'], searches: Array.from({ length: 40 }, (_, i) => `s${i}.example`) } });
    const r = podDnsConfig(p, settings);
    expect(r.dns?.nameservers).toEqual(['10.43.0.10', '1.1.1.1', '2.2.2.2']);
    expect(r.dns?.searches).toHaveLength(32);
    expect(r.warnings.map((w) => w.reason)).toEqual(['DNSConfigForming', 'DNSConfigForming']);
  });
});
