/**
 * Writes the seed corpus: valid and tricky inputs for every fuzz target, as
 * test/corpus/<target>/<name>.bin. Run it after adding a seed here:
 *
 *   node --import tsx test/fuzz/seeds.ts
 *
 * Crashes found later go to <target>/regressions/ (fixed) or <target>/pending/
 * (not fixed yet), written by scripts/fuzz.ts; this script never touches them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_ROOT } from './engine.js';

const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u32le = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const framed = (payload: string | Buffer): Buffer => {
  const body = Buffer.from(payload);
  return Buffer.concat([u32be(body.length), body]);
};
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

function sntpPacket(first: number, stratum: number, transmitSeconds: number, fill = 0): Buffer {
  const p = Buffer.alloc(48, fill);
  p[0] = first;
  p[1] = stratum;
  p.writeInt8(6, 2);
  p.writeInt8(-20, 3);
  p.writeUInt32BE(0xe9a3_c5a0, 32);
  p.writeUInt32BE(transmitSeconds >>> 0, 40);
  p.writeUInt32BE(0x8000_0000, 44);
  return p;
}

const SEEDS: Record<string, Record<string, Buffer>> = {
  frame: {
    hello: framed('hello'),
    'two-frames': Buffer.concat([framed('hello'), framed('world')]),
    'empty-frame': framed(''),
    'empty-between': Buffer.concat([framed('a'), framed(''), framed('b')]),
    'split-header': Buffer.concat([framed('abc'), u32be(5).subarray(0, 2)]),
    'truncated-body': Buffer.concat([u32be(1000), Buffer.alloc(10, 0x41)]),
    'len-1024-limit': Buffer.concat([u32be(1024), Buffer.alloc(1024, 0x62)]),
    'len-1025-over': Buffer.concat([u32be(1025), Buffer.alloc(8)]),
    'len-16m': u32be(16 * 1024 * 1024),
    'len-16m-plus-1': u32be(16 * 1024 * 1024 + 1),
    'len-7fffffff': u32be(0x7fff_ffff),
    'len-80000000': u32be(0x8000_0000),
    'len-ffffffff': Buffer.concat([u32be(0xffff_ffff), Buffer.alloc(64, 0xff)]),
    'le-hi': Buffer.concat([u32le(2), text('hi')]),
    'text-not-frame': text('error BUSY: go away\n'),
  },
  'envelope-header': {
    put: json({ type: 'put', name: 'a.txt', size: 5 }),
    minimal: json({ type: 'x' }),
    error: json({ type: 'error', code: 'BUSY', message: 'm' }),
    'size-max-safe': text('{"type":"put","size":9007199254740991}'),
    'size-over-safe': text('{"type":"put","size":9007199254740992}'),
    'size-neg': text('{"type":"put","size":-1}'),
    'size-frac': text('{"type":"put","size":1.5}'),
    'size-string': text('{"type":"put","size":"10"}'),
    'size-1e400': text('{"type":"put","size":1e400}'),
    proto: text('{"type":"x","__proto__":{"polluted":true}}'),
    constructor: text('{"type":"x","constructor":{"prototype":{"polluted":1}}}'),
    'nested-33': text(`{"type":"x","a":${'['.repeat(33)}${']'.repeat(33)}}`),
    'nested-in-string': text(`{"type":"x","a":"${'['.repeat(40)}"}`),
    'escaped-quote': text('{"type":"x","a":"\\"[[[["}'),
    bom: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json({ type: 'x' })]),
    'bad-utf8': Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
    array: text('[{"type":"x"}]'),
    trailing: text('{"type":"x"} x'),
    'type-long': json({ type: 'x'.repeat(65) }),
    'lone-surrogate': text('{"type":"\\ud800"}'),
  },
  'envelope-stream': {
    'header-only': framed(json({ type: 'hello' })),
    'with-body': Buffer.concat([
      framed(json({ type: 'put', size: 5 })),
      text('hello'),
      framed(json({ type: 'eof' })),
    ]),
    'body-looks-like-frame': Buffer.concat([
      framed(json({ type: 'put', size: 8 })),
      framed('abcd'),
    ]),
    'truncated-body': Buffer.concat([framed(json({ type: 'put', size: 100 })), text('abc')]),
    'header-over-4k': Buffer.concat([u32be(4097), Buffer.alloc(16, 0x20)]),
    'bad-json': framed('{"type":'),
    'zero-size': Buffer.concat([framed(json({ type: 'a', size: 0 })), framed(json({ type: 'b' }))]),
    'len-ffffffff': u32be(0xffff_ffff),
  },
  'chat-line': {
    say: text('hello everyone\n'),
    crlf: text('hi\r\n/nick alice\r\n'),
    commands: text('/nick bob\n/join #Room_1\n/msg alice hi there\n/who\n/part\n/quit bye\n'),
    'slash-say': text('//not a command\n'),
    unknown: text('/frobnicate x\n'),
    'bad-nick': text('/nick 1bad\n/nick ' + 'a'.repeat(33) + '\n'),
    escape: text('\u001b[31mred\u001b[0m \u202eevil\n'),
    'no-final-lf': text('last line'),
    blank: text('\n\n   \n'),
    'bad-utf8': Buffer.from([0xff, 0xfe, 0x0a, 0xc3, 0x0a]),
    'near-limit': Buffer.concat([Buffer.alloc(8190, 0x61), text('\r\n')]),
  },
  'chat-request': {
    join: json({ type: 'join', room: 'lobby', nick: 'alice', ref: 1 }),
    say: json({ type: 'say', room: 'lobby', text: 'hi', ref: 'r1' }),
    msg: json({ type: 'msg', to: 'bob', text: 'psst' }),
    who: json({ type: 'who' }),
    leave: json({ type: 'leave', room: '#Lobby' }),
    nick: json({ type: 'nick', nick: 'carol' }),
    ping: json({ type: 'ping', id: 7 }),
    pong: json({ type: 'pong', id: 'x' }),
    quit: json({ type: 'quit', text: 'bye' }),
    'bad-type': json({ type: 'shout', text: 'x' }),
    'bad-room': json({ type: 'join', room: '../x' }),
    'long-text': json({ type: 'say', text: 'x'.repeat(4097) }),
  },
  'text-notice': {
    busy: text('error BUSY: server is at its limit\n'),
    'unknown-code': text('error NOPE: x\n'),
    'no-newline': text('error IDLE_TIMEOUT: idle'),
    frame: framed('hello'),
  },
  'exec-request': {
    'run-argv': json({ type: 'run', argv: ['echo', 'hi'] }),
    'run-shell': json({ type: 'run', shell: 'echo hi | wc -c', timeoutMs: 1000 }),
    'run-env': json({
      type: 'run',
      argv: ['env'],
      env: { FOO: 'bar', LD_PRELOAD: '/x.so' },
      cwd: '/tmp',
    }),
    'run-both': json({ type: 'run', argv: ['a'], shell: 'b' }),
    'run-neither': json({ type: 'run' }),
    'run-nul': json({ type: 'run', argv: ['a\u0000b'] }),
    'run-empty-argv0': json({ type: 'run', argv: [''] }),
    'run-bad-env-name': json({ type: 'run', argv: ['a'], env: { '1X': 'y' } }),
    'run-extra-key': json({ type: 'run', argv: ['a'], uid: 0 }),
    'run-timeout-big': json({ type: 'run', argv: ['a'], timeoutMs: 2 ** 31 }),
    stdin: json({ type: 'stdin', size: 10 }),
    eof: json({ type: 'eof' }),
    signal: json({ type: 'signal', signal: 'SIGINT' }),
    'signal-bad': json({ type: 'signal', signal: 'SIGSTOP' }),
    'unknown-with-body': json({ type: 'zzz', size: 3 }),
    auth: json({ type: 'auth', hmac: '00'.repeat(32) }),
  },
  'files-header': {
    put: json({ type: 'put', name: 'dir/a.txt', size: 5, sha256: 'a'.repeat(64) }),
    'put-overwrite': json({ type: 'put', name: 'a', size: 0, overwrite: true, offset: 0 }),
    tutorial: json({
      file_name: 'notes.txt',
      file_size: 12,
      md5: 'D41D8CD98F00B204E9800998ECF8427E',
    }),
    'tutorial-traversal': json({ file_name: '../../etc/passwd', file_size: 1 }),
    'tutorial-no-size': json({ file_name: 'x' }),
    get: json({ type: 'get', name: 'a.txt', offset: 3 }),
    stat: json({ type: 'stat', name: 'a.txt' }),
    list: json({ type: 'list', prefix: 'dir' }),
    commit: json({ type: 'commit', sha256: 'b'.repeat(64) }),
    abs: json({ type: 'put', name: '/etc/passwd', size: 1 }),
    device: json({ type: 'get', name: 'dir/CON.txt' }),
    'nfkc-dotdot': json({ type: 'get', name: '．．/x' }),
    reserved: json({ type: 'stat', name: '.sockit-partial/x' }),
    backslash: json({ type: 'stat', name: '..\\x' }),
  },
  'files-name': {
    plain: text('a.txt'),
    subdir: text('dir/sub/file.bin'),
    dotdot: text('../x'),
    abs: text('/x'),
    nul: text('a\u0000b'),
    drive: text('C:x'),
    device: text('lpt1.log'),
    'device-super': text('COM¹'),
    'trailing-dot': text('a.'),
    bidi: text('a\u202egpj.exe'),
    nfd: text('e\u0301.txt'),
    ligature: text('ﬁle'),
    'long-component': text('a'.repeat(256)),
    deep: text(Array.from({ length: 65 }, () => 'd').join('/')),
    'bad-utf8': Buffer.from([0x61, 0xff, 0x62]),
  },
  sntp: {
    'client-v4': sntpPacket(0x23, 0, 0xe9a3_c5a1),
    'client-v3': sntpPacket(0x1b, 0, 0xe9a3_c5a1),
    'server-reply': sntpPacket(0x24, 2, 0xe9a3_c5a1),
    kiss: Buffer.concat([
      sntpPacket(0x24, 0, 0xe9a3_c5a1).subarray(0, 12),
      text('RATE'),
      Buffer.alloc(32, 1),
    ]),
    leap3: sntpPacket(0xe4, 2, 0xe9a3_c5a1),
    'zero-transmit': sntpPacket(0x24, 2, 0),
    era1: sntpPacket(0x24, 2, 0x0000_1000),
    v0: sntpPacket(0x03, 0, 1),
    'mode-broadcast': sntpPacket(0x25, 2, 1),
    'short-47': Buffer.alloc(47, 0x23),
    'with-extension': Buffer.concat([sntpPacket(0x23, 0, 5), Buffer.alloc(20, 0xaa)]),
    'all-ff': Buffer.alloc(48, 0xff),
    'precision-min': (() => {
      const p = sntpPacket(0x24, 2, 0xe9a3_c5a1);
      p.writeInt8(-128, 3);
      p.writeInt8(127, 2);
      return p;
    })(),
  },
  'time-datagram': {
    rfc868: u32be(0xe9a3_c5a1),
    'rfc868-era1': u32be(0x10),
    empty: Buffer.alloc(0),
    'five-bytes': Buffer.alloc(5, 1),
    strftime: text('%Y-%m-%d %H:%M:%S.%f %Z %j %U %a %b'),
    'strftime-percent': text('%%%'),
    'strftime-unknown': text('%Q %E %O %-d %#x'),
    'strftime-256': Buffer.alloc(256, 0x25),
    'strftime-257': Buffer.alloc(257, 0x41),
    'bad-utf8': Buffer.from([0x25, 0x59, 0xc3]),
  },
  messenger: {
    msg: json({ type: 'msg', id: 'm-1', from: 'alice', text: 'hello', ts: 1700000000000 }),
    ack: json({ type: 'ack', id: 'm-1' }),
    plain: text('hi\n'),
    'plain-crlf': text('hi there\r\n'),
    'bad-id': json({ type: 'msg', id: 'a b', text: 'x' }),
    'ack-no-id': json({ type: 'ack' }),
    'other-json': json({ type: 'hello', text: 'x' }),
    'json-array': text('[1,2]'),
    empty: Buffer.alloc(0),
    'newline-only': text('\n'),
    'bad-utf8': Buffer.from([0xc3, 0x28]),
    long: Buffer.alloc(4097, 0x61),
    'over-8k': Buffer.alloc(8193, 0x61),
  },
};

let written = 0;
for (const [target, seeds] of Object.entries(SEEDS)) {
  const dir = join(CORPUS_ROOT, target);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(seeds)) {
    writeFileSync(join(dir, `${name}.bin`), bytes);
    written++;
  }
}
console.log(`wrote ${written} seed files under ${CORPUS_ROOT}`);
