// A chat node of a cluster, run by a fault test as its own process (inside a
// network namespace by netns.ts, or beside it): a ChatServer on a
// RedisChatBus with the timers the test gives (short ones, so a lease lapses
// within a test), logging JSON lines to stdout; prints
// {"event":"ready","chat":PORT,"node":ID} once it serves.
// Usage: node --import tsx ns-chat-node.ts '{"host":"10.1.2.2","redis":"redis://10.1.2.1:6379","nickTtlMs":3000,"heartbeatMs":500}'
import { createLogger } from '../../../src/cli/log.js';
import { ChatServer, RedisChatBus } from '../../../src/index.js';

interface Config {
  host: string;
  redis: string;
  nickTtlMs?: number;
  heartbeatMs?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const logger = createLogger({ level: 'info' });
const bus = new RedisChatBus({
  url: config.redis,
  logger,
  ...(config.nickTtlMs !== undefined ? { nickTtlMs: config.nickTtlMs } : {}),
  ...(config.heartbeatMs !== undefined ? { heartbeatMs: config.heartbeatMs } : {}),
});
const chat = new ChatServer({ logger, bus });
const at = await chat.listen({ kind: 'inet', host: config.host, port: 0 });
logger.info({ event: 'ready', chat: at.kind === 'inet' ? at.port : 0, node: bus.node });

process.on('SIGTERM', () => {
  void chat.close(0).then(() => process.exit(0));
});
