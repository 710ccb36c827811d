import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { describe, it, type TestContext } from 'node:test';
import {
  EchoClient,
  SockitError,
  connect,
  trustPolicy,
  type Address,
  type TlsServerConfig,
} from '../../src/index.js';
import { selfSigned, testCa, type Pems } from '../helpers/certs.js';
import { startEcho, tempDir } from '../helpers/echo.js';
import { TOKEN, runRemote, startExec } from '../helpers/exec.js';
import { ExecClient } from '../../src/index.js';
import { LOOPBACK, closed, portOf, rawConnect, readAll } from '../helpers/net.js';

function fingerprint(pem: string): string {
  return `SHA256:${new X509Certificate(pem).fingerprint256}`;
}

function isCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof SockitError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };
}

async function tlsEcho(
  t: TestContext,
  pems: Pems,
  extra: Partial<TlsServerConfig> = {},
): Promise<Address> {
  const { tcp } = await startEcho(t, { tcp: { tls: { ...pems, ...extra } } }, { tcp: LOOPBACK });
  return tcp;
}

async function echoOnce(address: Address, tls: ReturnType<typeof trustPolicy>): Promise<string> {
  const client = await EchoClient.connect(address, { tls });
  try {
    return (await client.request(Buffer.from('secret'))).toString();
  } finally {
    client.destroy();
  }
}

describe('TLS servers and ssh-like client trust', () => {
  it('a pinned fingerprint connects; the frames inside are the usual ones', async (t) => {
    const pems = await selfSigned();
    const address = await tlsEcho(t, pems);
    assert.equal(
      await echoOnce(address, trustPolicy({ fingerprint: fingerprint(pems.cert) })),
      'SECRET',
    );
    // Any usual spelling of the fingerprint: no prefix, no colons, lower case.
    const bare = fingerprint(pems.cert).slice(7).replace(/:/g, '').toLowerCase();
    assert.equal(await echoOnce(address, trustPolicy({ fingerprint: bare })), 'SECRET');
  });

  it('an unknown self-signed server is refused, naming its fingerprint', async (t) => {
    const pems = await selfSigned();
    const address = await tlsEcho(t, pems);
    const dir = await tempDir(t);
    await assert.rejects(
      echoOnce(address, trustPolicy({ knownHostsFile: join(dir, 'kh') })),
      (err) => {
        isCode('CERT_UNTRUSTED')(err);
        assert.ok((err as Error).message.includes(fingerprint(pems.cert)));
        return true;
      },
    );
  });

  it('trust on first use remembers the server; a changed key is refused loudly', async (t) => {
    const dir = await tempDir(t);
    const knownHostsFile = join(dir, 'known_hosts');
    const first = await selfSigned();
    const { server, tcp } = await startEcho(t, { tcp: { tls: first } }, { tcp: LOOPBACK });
    const remembered: string[] = [];
    const tofu = trustPolicy({
      knownHostsFile,
      trustOnFirstUse: true,
      onRemembered: (target, fp) => remembered.push(`${target} ${fp}`),
    });
    assert.equal(await echoOnce(tcp, tofu), 'SECRET');
    const target = `127.0.0.1:${portOf(tcp)}`;
    assert.deepEqual(remembered, [`${target} ${fingerprint(first.cert)}`]);
    assert.equal(await readFile(knownHostsFile, 'utf8'), `${target} ${fingerprint(first.cert)}\n`);
    // Known now: no flag needed.
    assert.equal(await echoOnce(tcp, trustPolicy({ knownHostsFile })), 'SECRET');

    // Same host:port, new key (a new server, or someone in the middle).
    await server.close(0);
    const second = await selfSigned();
    await startEcho(t, { tcp: { tls: second } }, { tcp });
    for (const policy of [
      trustPolicy({ knownHostsFile }),
      trustPolicy({ knownHostsFile, trustOnFirstUse: true }),
    ]) {
      await assert.rejects(echoOnce(tcp, policy), (err) => {
        isCode('FINGERPRINT_CHANGED')(err);
        const message = (err as Error).message;
        assert.ok(
          message.includes(fingerprint(first.cert)) && message.includes(fingerprint(second.cert)),
        );
        return true;
      });
    }
  });

  it('a wrong pinned fingerprint is refused (FINGERPRINT_MISMATCH)', async (t) => {
    const address = await tlsEcho(t, await selfSigned());
    const other = await selfSigned();
    await assert.rejects(
      echoOnce(address, trustPolicy({ fingerprint: fingerprint(other.cert) })),
      isCode('FINGERPRINT_MISMATCH'),
    );
  });

  it('a CA-signed certificate is verified with --ca; wrong-host and expired ones are refused', async (t) => {
    const ca = await testCa();
    const good = await tlsEcho(t, await ca.sign());
    assert.equal(await echoOnce(good, trustPolicy({ ca: ca.cert })), 'SECRET');

    const wrongHost = await tlsEcho(t, await ca.sign({ name: 'elsewhere.example' }));
    await assert.rejects(echoOnce(wrongHost, trustPolicy({ ca: ca.cert })), isCode('CERT_INVALID'));

    const expiredPems = await ca.sign({ expired: true });
    const expired = await tlsEcho(t, expiredPems);
    await assert.rejects(echoOnce(expired, trustPolicy({ ca: ca.cert })), isCode('CERT_INVALID'));
    // Pinning cannot revive an expired certificate either.
    await assert.rejects(
      echoOnce(expired, trustPolicy({ ca: ca.cert, fingerprint: fingerprint(expiredPems.cert) })),
      isCode('CERT_INVALID'),
    );
  });

  it('a plain client on a TLS port gets a one-line NOT_TLS, not a hang', async (t) => {
    const address = await tlsEcho(t, await selfSigned());
    const socket = await rawConnect(address);
    socket.end('hello\n');
    assert.equal(
      (await readAll(socket)).toString(),
      'error NOT_TLS: this port speaks TLS: connect with --tls\n',
    );
    const client = await EchoClient.connect(address);
    t.after(() => client.destroy());
    await assert.rejects(client.request(Buffer.from('x')), isCode('NOT_TLS'));
  });

  it('a plain client that waits for a greeting (exec) is told NOT_TLS too', async (t) => {
    const pems = await selfSigned();
    const { address } = await startExec(t, { tcp: { tls: pems } });
    await assert.rejects(ExecClient.connect(address, { token: TOKEN }), isCode('NOT_TLS'));
    const secure = await ExecClient.connect(address, {
      token: TOKEN,
      tls: trustPolicy({ fingerprint: fingerprint(pems.cert) }),
    });
    t.after(() => secure.destroy());
    const { stdout } = await runRemote(secure, { argv: ['echo', 'over tls'] });
    assert.equal(stdout.text, 'over tls\n');
  });

  it('a TLS client on a plain port gets TLS_ERROR naming the likely cause', async (t) => {
    const { tcp } = await startEcho(t, {}, { tcp: LOOPBACK });
    await assert.rejects(connect(tcp, { tls: trustPolicy() }), (err) => {
      isCode('TLS_ERROR')(err);
      assert.match((err as Error).message, /does not seem to speak TLS/);
      return true;
    });
    const plainExec = await startExec(t);
    await assert.rejects(connect(plainExec.address, { tls: trustPolicy() }), isCode('TLS_ERROR'));
  });

  it('a peer refused after its handshake is closed, and the server carries on', async (t) => {
    // allowPeer is asked again once the handshake is done; a peer gone by
    // then has no address and is refused. Node cannot reset a TLS socket
    // (resetAndDestroy throws on it): this once took the process down.
    const pems = await selfSigned();
    let calls = 0;
    const { tcp } = await startEcho(
      t,
      { reply: 'echo', tcp: { tls: pems, allowPeer: () => ++calls !== 2 } },
      { tcp: LOOPBACK },
    );
    const refused = tlsConnect({ host: '127.0.0.1', port: portOf(tcp), rejectUnauthorized: false });
    refused.on('error', () => undefined); // closed under it, in any way
    await once(refused, 'close');
    assert.equal(calls, 2, 'asked before and after the handshake');
    const policy = trustPolicy({ fingerprint: fingerprint(pems.cert) });
    assert.equal(await echoOnce(tcp, policy), 'secret');
  });

  it('a handshake that stalls is cut off at handshakeTimeoutMs', async (t) => {
    const address = await tlsEcho(t, await selfSigned(), { handshakeTimeoutMs: 200 });
    const socket = await rawConnect(address);
    socket.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a ClientHello, then nothing
    await closed(socket);
  });

  it('refuses TLS below 1.2 and negotiates ALPN sockit/1', async (t) => {
    const address = await tlsEcho(t, await selfSigned());
    const port = portOf(address);
    const old = tlsConnect({
      host: '127.0.0.1',
      port,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      rejectUnauthorized: false,
    });
    const [err] = (await once(old, 'error')) as [Error];
    assert.ok(err instanceof Error);
    const modern = tlsConnect({
      host: '127.0.0.1',
      port,
      ALPNProtocols: ['sockit/1'],
      rejectUnauthorized: false,
    });
    t.after(() => modern.destroy());
    await once(modern, 'secureConnect');
    assert.equal(modern.alpnProtocol, 'sockit/1');
    assert.match(String(modern.getProtocol()), /^TLSv1\.[23]$/);
  });
});
