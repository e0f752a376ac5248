import {
  channelOf,
  encodeChannel,
  negotiatePortForwardProtocol,
  parseForwardedPorts,
  parseListenAddresses,
  parsePortList,
  portForwardProtocol,
  PortForwardReader,
  portPrefix,
} from '../../src/client/port-forward';

/** The pods/portforward WebSocket wire format (kubelet websocket.go) and the CLI's argument parsing (client-go parsePorts). */

describe('channel framing', () => {
  const binary = portForwardProtocol('v4.channel.k8s.io');
  const base64 = portForwardProtocol('v4.base64.channel.k8s.io');

  test('port i has data channel 2i and error channel 2i+1', () => {
    expect(channelOf(0)).toEqual({ index: 0, error: false });
    expect(channelOf(1)).toEqual({ index: 0, error: true });
    expect(channelOf(2)).toEqual({ index: 1, error: false });
    expect(channelOf(5)).toEqual({ index: 2, error: true });
  });

  test('the port prefix is the port as two little-endian bytes', () => {
    expect([...portPrefix(8080)]).toEqual([0x90, 0x1f]);
    expect([...portPrefix(1)]).toEqual([1, 0]);
    expect([...portPrefix(65535)]).toEqual([0xff, 0xff]);
  });

  test('a binary message is the channel byte then the payload; base64 is an ASCII digit then base64', () => {
    const b = encodeChannel(binary, 3, Buffer.from('hi'));
    expect(b.binary).toBe(true);
    expect([...(b.data as Buffer)]).toEqual([3, 0x68, 0x69]);
    const t = encodeChannel(base64, 2, Buffer.from('hi'));
    expect(t).toEqual({ data: '2aGk=', binary: false });
  });

  test('the reader drops the 2-byte port prefix of each channel once, however it is split', () => {
    const reader = new PortForwardReader(binary);
    // Channel 0's prefix arrives a byte at a time, channel 1's whole with data after it.
    expect(reader.read(Buffer.from([0, 0x90]))).toBeUndefined();
    expect(reader.read(Buffer.from([0, 0x1f, 0x41]))).toEqual({ channel: 0, payload: Buffer.from('A') });
    expect(reader.read(Buffer.from([1, 0x90, 0x1f, 0x65, 0x72, 0x72]))).toEqual({ channel: 1, payload: Buffer.from('err') });
    // After the prefix, bytes that look like a port are data.
    expect(reader.read(Buffer.from([0, 0x90, 0x1f]))).toEqual({ channel: 0, payload: Buffer.from([0x90, 0x1f]) });
    expect(reader.read(Buffer.alloc(0))).toBeUndefined();
  });

  test('the reader decodes base64 messages', () => {
    const reader = new PortForwardReader(base64);
    expect(reader.read(Buffer.from(`0${Buffer.from([0x50, 0x00]).toString('base64')}`))).toBeUndefined();
    expect(reader.read(Buffer.from(`0${Buffer.from('data').toString('base64')}`))).toEqual({ channel: 0, payload: Buffer.from('data') });
  });

  test('negotiation picks the first offered protocol the kubelet speaks; none offered means binary', () => {
    expect(negotiatePortForwardProtocol(['v5.channel.k8s.io', 'v4.base64.channel.k8s.io', 'v4.channel.k8s.io'])?.name).toBe('v4.base64.channel.k8s.io');
    expect(negotiatePortForwardProtocol([])).toMatchObject({ name: '', base64: false });
    expect(negotiatePortForwardProtocol(['portforward.k8s.io'])).toBeUndefined();
  });
});

describe('the ports of a request', () => {
  test('are comma-separated, in one or more parameters', () => {
    expect(parsePortList(['8080,9090', '22'], 'ports')).toEqual([8080, 9090, 22]);
  });

  test.each([
    [[], 'query parameter "ports" is required'],
    [[''], 'query parameter "ports" cannot be empty'],
    [['0'], 'port "0" must be > 0'],
    [['80,x'], 'unable to parse "80,x" as a port'],
    [['65536'], 'unable to parse "65536" as a port'],
    [['-1'], 'unable to parse "-1" as a port'],
  ])('%j is refused: %s', (values, message) => {
    expect(() => parsePortList(values, 'ports')).toThrow(message);
  });
});

describe('mk port-forward arguments', () => {
  test('[LOCAL:]REMOTE as client-go parses them', () => {
    expect(parseForwardedPorts(['8080', '8081:80', ':90', '0:91'])).toEqual([
      { local: 8080, remote: 8080 },
      { local: 8081, remote: 80 },
      { local: 0, remote: 90 },
      { local: 0, remote: 91 },
    ]);
  });

  test.each([
    ['1:2:3', "invalid port format '1:2:3'"],
    ['x:80', "error parsing local port 'x'"],
    ['80:', "error parsing remote port ''"],
    ['70000', "error parsing local port '70000'"],
    ['8080:0', 'remote port must be > 0'],
  ])('%s is refused', (spec, message) => {
    expect(() => parseForwardedPorts([spec])).toThrow(message);
  });

  test('--address: localhost is both loopbacks (either may fail), an IP must bind', () => {
    expect(parseListenAddresses(['localhost', '127.0.0.1', '10.1.2.3'])).toEqual([
      { host: '127.0.0.1', failureMode: 'all' },
      { host: '::1', failureMode: 'all' },
      { host: '10.1.2.3', failureMode: 'any' },
    ]);
    expect(() => parseListenAddresses(['example.com'])).toThrow('example.com is not a valid IP');
  });
});
