// Kernel-level faults (nftables in a private network namespace; netem is not
// available on this kernel): random loss, injected TCP resets and a
// blackhole, against a server child running inside the namespace. Needs
// root, ip and nft: skips loudly on a laptop, must run under CI=true.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { EchoClient, type Address } from '../../src/index.js';
import { Canary, figure, outcomeOf, rssOf, timed, within, MiB } from '../helpers/chaos/canary.js';
import { NS_SERVER, Netns, netnsAvailable } from '../helpers/chaos/netns.js';
import { tempDir } from '../helpers/echo.js';
import { TOKEN } from '../helpers/exec.js';

const T = { timeout: 30_000 };

async function nsServer(t: TestContext) {
  const ns = Netns.create(t);
  const root = await tempDir(t, 'sockit-ns-');
  const proc = ns.spawnNode(t, NS_SERVER, [JSON.stringify({ host: ns.nsIp, root, token: TOKEN })]);
  const ready = await within(
    15_000,
    'ns server ready',
    proc.waitFor((r) => r.event === 'ready'),
  );
  const at = (port: unknown): Address => ({ kind: 'inet', host: ns.nsIp, port: Number(port) });
  const canaryClient = await EchoClient.connect(at(ready.canary), { timeoutMs: 2_000 });
  t.after(() => {
    canaryClient.destroy();
  });
  let n = 0;
  const canary = await Canary.start(
    t,
    'netns echo',
    async () => {
      const text = `canary ${n++}`;
      assert.equal((await canaryClient.request(Buffer.from(text))).toString(), text.toUpperCase());
    },
    { intervalMs: 100, deadlineMs: 2_000 },
  );
  return { ns, proc, ready, at, canary, echo: at(ready.echo), echoPort: Number(ready.echo) };
}

describe('kernel faults in a network namespace (nftables)', () => {
  it(
    '5 % random loss both ways: 4 MiB of framed echo comes back byte-identical, in bounded time',
    T,
    async (t) => {
      if (!netnsAvailable(t)) return;
      const { ns, proc, canary, echo, echoPort } = await nsServer(t);
      ns.randomDrop(echoPort, 5);
      const client = await EchoClient.connect(echo, { timeoutMs: 20_000 });
      t.after(() => {
        client.destroy();
      });
      const block = Buffer.alloc(256 * 1024);
      for (let i = 0; i < block.length; i++) block[i] = 0x61 + (i % 26);
      const rssBefore = rssOf(proc.child.pid as number);
      const { value: replies, ms } = await timed(
        within(
          25_000,
          '4 MiB through 5 % loss',
          Promise.all(Array.from({ length: 16 }, () => client.request(block))),
        ),
      );
      const want = Buffer.from(block.toString().toUpperCase());
      replies.forEach((r, i) => assert.ok(r.equals(want), `reply ${i}`));
      const rssGrowth = rssOf(proc.child.pid as number) - rssBefore;
      figure('netns random loss 5%', {
        bytes: 16 * block.length,
        ms,
        lost: 0,
        serverRssGrowthMiB: Math.round(rssGrowth / MiB),
      });
      await canary.assertHealthy();
      assert.ok(proc.running);
    },
  );

  it(
    'TCP reset injected on a live connection: CONNECTION_RESET at the client, the server keeps serving',
    T,
    async (t) => {
      if (!netnsAvailable(t)) return;
      const { ns, proc, canary, echo, echoPort } = await nsServer(t);
      const client = await EchoClient.connect(echo, { timeoutMs: 5_000 });
      t.after(() => {
        client.destroy();
      });
      assert.equal((await client.request(Buffer.from('before'))).toString(), 'BEFORE');
      ns.reset(echoPort);
      const { value: code, ms } = await timed(
        within(6_000, 'request after reset', outcomeOf(client.request(Buffer.from('after')))),
      );
      assert.equal(code, 'CONNECTION_RESET');
      // The RST reaches the client only; the server's side stays half-open until its idle timeout.
      figure('netns tcp reset', { code, ms });
      await canary.assertHealthy();
      assert.ok(proc.running);
    },
  );

  it(
    'blackhole of an established connection: the client gets TIMEOUT within its deadline, never a hang',
    T,
    async (t) => {
      if (!netnsAvailable(t)) return;
      const { ns, proc, canary, echo, echoPort } = await nsServer(t);
      const client = await EchoClient.connect(echo, { timeoutMs: 1_500 });
      t.after(() => {
        client.destroy();
      });
      assert.equal((await client.request(Buffer.from('before'))).toString(), 'BEFORE');
      ns.blackhole(echoPort);
      const { value: code, ms } = await timed(
        within(4_000, 'request into a blackhole', outcomeOf(client.request(Buffer.from('lost')))),
      );
      assert.equal(code, 'TIMEOUT');
      assert.ok(ms < 2_500, `${ms} ms`);
      figure('netns blackhole', { code, ms });
      await canary.assertHealthy();
      assert.ok(proc.running);
    },
  );
});
