// Exec through the chaos TCP proxy, with a direct canary client served
// throughout: stdin/stdout under slicing, a bandwidth cap and latency (a
// binary round trip through `cat`), a reset mid-run (typed error at once, the
// remote process group killed) and a close after N bytes mid-output.
// Disconnects without faults are in test/services/exec/run.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { ExecClient, type Address } from '../../src/index.js';
import { Canary, figure, outcomeOf, timed, within } from '../helpers/chaos/canary.js';
import { ChaosTcpProxy } from '../helpers/chaos/tcp-proxy.js';
import { captureLogger } from '../helpers/echo.js';
import { Collect, TOKEN, alive, eventually, execClient, startExec } from '../helpers/exec.js';

const T = { timeout: 30_000 };
const SEED = Number(process.env.CHAOS_SEED ?? 868);

async function execCanary(t: TestContext, address: Address): Promise<Canary> {
  const client = await execClient(t, address);
  let n = 0;
  return Canary.start(
    t,
    'exec',
    async () => {
      const text = `canary ${n++}`;
      const stdout = new Collect();
      const exit = await client.run({ argv: ['echo', text] }, { stdout, stderr: new Collect() });
      assert.equal(exit.code, 0);
      assert.equal(stdout.text, `${text}\n`);
    },
    { intervalMs: 100, deadlineMs: 2_000 },
  );
}

/** A Collect that resolves `first` with the first bytes written to it. */
function collectFirst(): { out: Collect; first: Promise<Buffer> } {
  const out = new Collect();
  const first = new Promise<Buffer>((resolve) => {
    const original = out.write.bind(out);
    out.write = ((chunk: Buffer, ...rest: never[]) => {
      resolve(Buffer.from(chunk));
      return original(chunk, ...rest);
    }) as typeof out.write;
  });
  return { out, first };
}

describe('exec under TCP faults', () => {
  it(
    'sliced 1-300 bytes, 256 KiB/s, 5 ms + 10 ms jitter both ways: 256 KiB of binary through cat comes back byte-identical',
    T,
    async (t) => {
      const { address, server } = await startExec(t);
      const canary = await execCanary(t, address);
      const faults = {
        slice: { min: 1, max: 300 },
        bandwidth: 256 * 1024,
        latencyMs: 5,
        jitterMs: 10,
      };
      const proxy = await ChaosTcpProxy.start(t, address, { seed: SEED, up: faults, down: faults });
      const client = await ExecClient.connect(proxy.address, { token: TOKEN });
      t.after(() => {
        client.destroy();
      });
      const data = randomBytes(256 * 1024);
      const stdout = new Collect();
      const stderr = new Collect();
      const { value: exit, ms } = await timed(
        within(
          15_000,
          'cat through the proxy',
          client.run({ argv: ['cat'] }, { stdin: data, stdout, stderr }),
        ),
      );
      assert.equal(exit.code, 0);
      assert.equal(stderr.bytes, 0);
      assert.equal(stdout.bytes, data.length);
      assert.ok(stdout.buffer.equals(data), 'stdout differs from stdin');
      // The same connection runs the next command.
      const again = new Collect();
      assert.equal(
        (await client.run({ argv: ['echo', 'again'] }, { stdout: again, stderr })).code,
        0,
      );
      assert.equal(again.text, 'again\n');
      await client.close();
      figure('exec tcp slice/bandwidth/latency cat', {
        bytes: data.length,
        ms,
        lost: 0,
        segmentsUpBytes: proxy.stats.bytesUp,
      });
      await canary.assertHealthy();
      assert.ok(server.commands <= 1, `${server.commands} commands left running`);
    },
  );

  it(
    'reset mid-run: CONNECTION_RESET at the client at once, the remote process group killed',
    T,
    async (t) => {
      const { logger, waitFor } = captureLogger();
      const { address, server } = await startExec(t, { killGraceMs: 200, logger });
      const canary = await execCanary(t, address);
      const proxy = await ChaosTcpProxy.start(t, address, {
        seed: SEED,
        up: { latencyMs: 5 },
        down: { latencyMs: 5, slice: { min: 1, max: 16 } },
      });
      const client = await ExecClient.connect(proxy.address, { token: TOKEN });
      t.after(() => {
        client.destroy();
      });
      const { out, first } = collectFirst();
      let leader: number | undefined;
      const running = client.run(
        { argv: ['sh', '-c', 'sleep 300 & echo $!; wait'] },
        { stdout: out, stderr: new Collect(), onStarted: (pid) => (leader = pid) },
      );
      const outcome = outcomeOf(running);
      const grandchild = Number((await within(5_000, 'the first output', first)).toString().trim());
      assert.ok(grandchild > 0 && leader !== undefined, `pids ${leader} ${grandchild}`);
      assert.ok(alive(leader) && alive(grandchild));
      proxy.resetAll();
      const { value: code, ms } = await timed(within(2_000, 'run after a reset', outcome));
      assert.equal(code, 'CONNECTION_RESET');
      assert.ok(ms < 500, `the client took ${ms} ms to see the reset`);
      const killed = performance.now();
      const leaderPid = leader;
      await eventually(
        () => !alive(grandchild) && !alive(leaderPid),
        'the remote process group to die',
        5_000,
      );
      const killMs = Math.round(performance.now() - killed);
      await within(
        3_000,
        'exec_disconnect log',
        waitFor((r) => r.event === 'exec_disconnect' || r.event === 'exec_exit'),
      );
      figure('exec tcp reset mid-run', { code, clientMs: ms, groupDeadMs: killMs });
      await canary.assertHealthy();
      await eventually(() => server.commands === 0, 'the server to forget the command', 5_000);
    },
  );

  it(
    'close after 40 000 bytes mid-output: a typed error within its deadline, the command killed',
    T,
    async (t) => {
      const { address, server } = await startExec(t, { killGraceMs: 200 });
      const canary = await execCanary(t, address);
      const proxy = await ChaosTcpProxy.start(t, address, {
        seed: SEED,
        down: { closeAfterBytes: 40_000, slice: { min: 100, max: 4_000 } },
      });
      const client = await ExecClient.connect(proxy.address, { token: TOKEN });
      t.after(() => {
        client.destroy();
      });
      const stdout = new Collect();
      let leader: number | undefined;
      // A command that would write 100 MB: only the proxy's limit can end it early.
      const { value: code, ms } = await timed(
        within(
          5_000,
          'run cut after 40 000 bytes',
          outcomeOf(
            client.run(
              { argv: ['sh', '-c', 'yes sockit-output-line | head -c 100000000'] },
              { stdout, stderr: new Collect(), onStarted: (pid) => (leader = pid) },
            ),
          ),
        ),
      );
      assert.ok(['CONNECTION_CLOSED', 'INCOMPLETE'].includes(code), code);
      assert.ok(ms < 3_000, `${ms} ms`);
      // What did arrive is an exact prefix of the output, never garbage.
      const want = Buffer.from('sockit-output-line\n'.repeat(Math.ceil(stdout.bytes / 19) + 1));
      assert.ok(stdout.buffer.equals(want.subarray(0, stdout.bytes)), 'stdout is not a prefix');
      assert.ok(stdout.bytes < 40_000, `${stdout.bytes} bytes`);
      assert.ok(leader !== undefined);
      const leaderPid = leader;
      await eventually(() => !alive(leaderPid), 'the command to be killed', 5_000);
      figure('exec tcp limit_data mid-output', { code, ms, stdoutBytes: stdout.bytes });
      await canary.assertHealthy();
      await eventually(() => server.commands === 0, 'the server to forget the command', 5_000);
    },
  );
});
