// A stand-in for a cluster worker that gets stuck (ipc-bus.test.ts): it joins
// room `dev` as `zed` through the primary's chat hub over real Node IPC, and
// once the hub has answered it stops itself (SIGSTOP), so it reads nothing
// more while the hub goes on writing to it.
process.on('message', (m) => {
  if (m?.ch === 'chat' && m.kind === 'reply' && m.id === 1) process.kill(process.pid, 'SIGSTOP');
});
process.send({ ch: 'chat', kind: 'join', id: 1, room: 'dev', nick: 'zed', ts: Date.now() });
