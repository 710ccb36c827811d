// Run inside a network namespace by netns.ts: serves echo twice (a port the
// faults target and a canary port they leave alone), files and chat on HOST,
// logs JSON lines to stdout, and prints {"event":"ready",...} with the ports.
// Usage: node --import tsx ns-server.ts '{"host":"10.1.2.2","root":"/tmp/x","token":"…"}'
import { createLogger } from '../../../src/cli/log.js';
import { ChatServer, EchoServer, FilesServer } from '../../../src/index.js';
import type { Address } from '../../../src/index.js';

interface Config {
  host: string;
  root: string;
  token: string;
  chatPingMs?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const logger = createLogger({ level: 'info' });
const at: Address = { kind: 'inet', host: config.host, port: 0 };
const port = (a: Address | undefined): number => (a?.kind === 'inet' ? a.port : 0);

const echo = new EchoServer({ logger, tcp: { idleTimeoutMs: 30_000 } });
const canary = new EchoServer({ logger });
const files = new FilesServer({ root: config.root, token: config.token, logger });
const chat = new ChatServer({
  logger,
  pingIntervalMs: config.chatPingMs ?? 500,
  pingTimeoutMs: config.chatPingMs ?? 500,
});

const echoAt = await echo.listen({ tcp: at, udp: at });
const canaryAt = await canary.listen({ tcp: at });
const filesAt = await files.listen(at);
const chatAt = await chat.listen(at);
logger.info({
  event: 'ready',
  echo: port(echoAt.tcp),
  echoUdp: port(echoAt.udp),
  canary: port(canaryAt.tcp),
  files: port(filesAt),
  chat: port(chatAt),
});

process.on('SIGTERM', () => {
  void Promise.all([echo.close(0), canary.close(0), files.close(0), chat.close(0)]).then(() =>
    process.exit(0),
  );
});
