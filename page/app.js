// @ts-check
// The sockit chat page: one WebSocket to /ws, one JSON chat request or event
// per message (docs/WEB.md). Everything from the network is shown with
// textContent, never as HTML.

/** @typedef {{ type: string, [key: string]: unknown }} ChatEvent */

const NICK_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const ROOM_RE = /^#?[A-Za-z0-9_.-]{1,32}$/;
/** Reconnect delays: 0.5 s doubling to 30 s, each drawn between half and all of it (jitter). */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Message keys remembered to show each message once across reconnects. */
const SEEN_LIMIT = 5000;
/** Lines kept in the log; older ones are dropped from the page. */
const LOG_LIMIT = 2000;

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page is missing #${id}`);
  return el;
}

const ui = {
  state: byId('state', HTMLElement),
  problem: byId('problem', HTMLElement),
  joinForm: byId('join', HTMLFormElement),
  nick: byId('nick', HTMLInputElement),
  room: byId('room', HTMLInputElement),
  chat: byId('chat', HTMLElement),
  rooms: byId('rooms', HTMLUListElement),
  roomTitle: byId('room-title', HTMLElement),
  log: byId('log', HTMLOListElement),
  compose: byId('compose', HTMLFormElement),
  message: byId('message', HTMLInputElement),
  people: byId('people', HTMLUListElement),
};

const chat = {
  /** @type {WebSocket | undefined} */
  ws: undefined,
  /** The nick we want (sent with every join). */
  nick: '',
  /** The nick the broker last confirmed (a refused /nick goes back to it). */
  confirmedNick: '',
  /** Rooms we want to be in, in join order; rejoined after a reconnect. */
  rooms: /** @type {string[]} */ ([]),
  /** Rooms the broker confirmed on this connection. */
  joined: new Set(),
  /** Rooms joined at least once on any connection: a rejoin is not announced again. */
  everJoined: new Set(),
  current: '',
  /** room → nicks */
  rosters: /** @type {Map<string, string[]>} */ (new Map()),
  seen: /** @type {Set<string>} */ (new Set()),
  attempt: 0,
  /** @type {number | undefined} */
  retryTimer: undefined,
  everConnected: false,
  /** The guest name the broker gave this connection before our join named us. */
  guestNick: '',
};

/** @param {string} room */
function canonicalRoom(room) {
  return room.replace(/^#/, '').toLowerCase();
}

/** @param {string} text @param {'info' | 'error'} [kind] */
function showProblem(text, kind = 'error') {
  ui.problem.textContent = text;
  ui.problem.dataset.kind = kind;
  ui.problem.hidden = text === '';
}

/** @param {string} text */
function setState(text) {
  ui.state.textContent = text;
}

/**
 * One line in the log, built from text nodes only.
 * @param {string} className
 * @param {Array<[string, string]>} parts [class, text] pairs
 */
function addLine(className, parts) {
  const li = document.createElement('li');
  li.className = className;
  for (const [cls, text] of parts) {
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  ui.log.append(li);
  while (ui.log.childElementCount > LOG_LIMIT) ui.log.firstElementChild?.remove();
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

/** @param {string} text */
function notice(text) {
  addLine('notice', [['text', text]]);
}

/** @param {unknown} v */
function str(v) {
  return typeof v === 'string' ? v : String(v ?? '');
}

/** @param {unknown} ts */
function clock(ts) {
  const d = new Date(typeof ts === 'number' ? ts : Date.now());
  return d.toTimeString().slice(0, 5);
}

function renderRooms() {
  ui.rooms.replaceChildren(
    ...chat.rooms.map((room) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `#${room}`;
      if (room === chat.current) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => {
        chat.current = room;
        renderRooms();
        renderPeople();
      });
      li.append(button);
      return li;
    }),
  );
  ui.roomTitle.textContent = chat.current ? `#${chat.current}` : '';
}

function renderPeople() {
  const nicks = chat.rosters.get(chat.current) ?? [];
  ui.people.replaceChildren(
    ...nicks.map((nick) => {
      const li = document.createElement('li');
      li.textContent = nick;
      if (nick.toLowerCase() === chat.nick.toLowerCase()) li.className = 'me';
      return li;
    }),
  );
}

/** Shows the shareable link for what we are in now. */
function updateUrl() {
  const url = new URL(location.href);
  url.searchParams.set('nick', chat.nick);
  url.searchParams.set('room', chat.rooms[0] ?? 'lobby');
  history.replaceState(null, '', url);
}

/** @param {Record<string, unknown>} request */
function send(request) {
  const ws = chat.ws;
  if (ws?.readyState !== WebSocket.OPEN) {
    showProblem('not connected: your message was not sent');
    return false;
  }
  ws.send(JSON.stringify(request));
  return true;
}

/** @param {string} room */
function join(room) {
  send({ type: 'join', room, nick: chat.nick, ref: `join:${room}` });
}

// ---- the connection ----------------------------------------------------

function connect() {
  chat.retryTimer = undefined;
  setState(chat.everConnected ? 'reconnecting…' : 'connecting…');
  ui.state.dataset.state = 'connecting';
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  chat.ws = ws;
  ws.addEventListener('open', () => {
    chat.attempt = 0;
    chat.everConnected = true;
    chat.joined.clear();
    setState('connected');
    ui.state.dataset.state = 'connected';
    for (const room of chat.rooms) join(room);
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    /** @type {unknown} */
    let event;
    try {
      event = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (typeof event === 'object' && event !== null && 'type' in event) {
      onEvent(/** @type {ChatEvent} */ (event));
    }
  });
  ws.addEventListener('close', (ev) => {
    if (chat.ws !== ws) return;
    chat.ws = undefined;
    const why = `closed ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}`;
    const delay = backoff(chat.attempt++);
    setState(`reconnecting in ${(delay / 1000).toFixed(1)} s (${why})`);
    ui.state.dataset.state = 'reconnecting';
    chat.retryTimer = window.setTimeout(connect, delay);
  });
}

/** Exponential backoff with jitter: reconnecting browsers do not arrive all at once. @param {number} attempt */
function backoff(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** @param {ChatEvent} e */
function onEvent(e) {
  switch (e.type) {
    case 'ping':
      send(e.id !== undefined ? { type: 'pong', id: e.id } : { type: 'pong' });
      return;
    case 'roster': {
      const room = str(e.room);
      chat.rosters.set(room, Array.isArray(e.nicks) ? e.nicks.map(str) : []);
      if (typeof e.ref === 'string' && e.ref.startsWith('join:')) {
        chat.joined.add(room);
        chat.confirmedNick = chat.nick;
        if (!chat.everJoined.has(room)) notice(`you joined #${room} as ${chat.nick}`);
        chat.everJoined.add(room);
        if (!chat.rooms.includes(room)) chat.rooms.push(room);
        if (chat.current === '') chat.current = room;
        showProblem('');
        ui.joinForm.hidden = true;
        ui.chat.hidden = false;
        updateUrl();
        renderRooms();
        ui.message.focus();
      }
      if (room === chat.current) renderPeople();
      return;
    }
    case 'joined': {
      const room = str(e.room);
      const nick = str(e.nick);
      const roster = chat.rosters.get(room) ?? [];
      if (!roster.includes(nick)) roster.push(nick);
      chat.rosters.set(room, roster);
      if (room === chat.current) renderPeople();
      // Our own rejoin after a reconnect is not news.
      if (nick.toLowerCase() !== chat.nick.toLowerCase()) notice(`${nick} joined #${room}`);
      return;
    }
    case 'left': {
      const room = str(e.room);
      const nick = str(e.nick);
      chat.rosters.set(
        room,
        (chat.rosters.get(room) ?? []).filter((n) => n !== nick),
      );
      if (room === chat.current) renderPeople();
      notice(`${nick} left #${room} (${str(e.reason)})`);
      return;
    }
    case 'welcome':
      chat.guestNick = str(e.nick);
      return;
    case 'nick': {
      const old = str(e.old);
      const nick = str(e.nick);
      // Our join trading this connection's guest name for our own is not news.
      if (old === chat.guestNick) {
        chat.guestNick = '';
        return;
      }
      if (old === chat.confirmedNick) chat.confirmedNick = nick;
      for (const [room, nicks] of chat.rosters) {
        chat.rosters.set(
          room,
          nicks.map((n) => (n === old ? nick : n)),
        );
      }
      renderPeople();
      notice(`${old} is now known as ${nick}`);
      return;
    }
    case 'message':
      onMessage(e);
      return;
    case 'error':
      onError(e);
      return;
    default:
      return;
  }
}

/** Each message once, however often it arrives (receipts, history, reconnects). @param {ChatEvent} e */
function onMessage(e) {
  const key = `${str(e.id)}:${str(e.ts)}`;
  if (chat.seen.has(key)) return;
  chat.seen.add(key);
  if (chat.seen.size > SEEN_LIMIT) {
    const oldest = chat.seen.values().next().value;
    if (oldest !== undefined) chat.seen.delete(oldest);
  }
  const history = e.history === true ? ' history' : '';
  if (e.to !== undefined) {
    addLine(`message private${history}`, [
      ['time', clock(e.ts)],
      ['from', str(e.from)],
      ['to', `→ ${str(e.to)}`],
      ['text', str(e.text)],
    ]);
    return;
  }
  addLine(`message${history}`, [
    ['time', clock(e.ts)],
    ['room', `#${str(e.room)}`],
    ['from', str(e.from)],
    ['text', str(e.text)],
  ]);
}

/** @param {ChatEvent} e */
function onError(e) {
  const code = str(e.code);
  const message = str(e.message);
  if (code === 'NICK_TAKEN' || code === 'BAD_NICK') {
    showProblem(
      code === 'NICK_TAKEN'
        ? `The nickname "${chat.nick}" is taken: choose another.`
        : `"${chat.nick}" is not a valid nickname: ${message}`,
    );
    // Not in any room under that name: ask again. In rooms already: keep the old name.
    if (chat.joined.size > 0) {
      chat.nick = chat.confirmedNick;
      updateUrl();
    } else {
      ui.chat.hidden = true;
      ui.joinForm.hidden = false;
      ui.nick.focus();
    }
    return;
  }
  notice(`error ${code}: ${message}`);
}

// ---- what the user does -----------------------------------------------

/** @param {string} nick @param {string} room */
function start(nick, room) {
  chat.nick = nick;
  const r = canonicalRoom(room);
  if (!chat.rooms.includes(r)) chat.rooms.unshift(r);
  if (chat.ws?.readyState === WebSocket.OPEN) join(r);
  else if (chat.ws === undefined && chat.retryTimer === undefined) connect();
}

/** @param {string} nick @param {string} room */
function invalid(nick, room) {
  if (!NICK_RE.test(nick)) {
    return 'A nickname is 1–32 characters: a letter or _, then letters, digits, _ - .';
  }
  if (!ROOM_RE.test(room)) return 'A room is 1–32 letters, digits, _ - .';
  return undefined;
}

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const nick = ui.nick.value.trim();
  const room = ui.room.value.trim();
  const problem = invalid(nick, room);
  if (problem !== undefined) {
    showProblem(problem);
    return;
  }
  // A new nick replaces a refused one; the rooms stay.
  chat.rooms = chat.rooms.filter((r) => chat.joined.has(r));
  start(nick, room);
});

ui.compose.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = ui.message.value;
  if (text.trim() === '') return;
  if (command(text)) ui.message.value = '';
});

/** Sends what was typed; returns whether it left. @param {string} text */
function command(text) {
  const m = /^\/(\w+)\s*(.*)$/s.exec(text);
  if (m === null || text.startsWith('//')) {
    return send({
      type: 'say',
      room: chat.current,
      text: text.startsWith('//') ? text.slice(1) : text,
    });
  }
  const [, name, rest = ''] = m;
  switch (name) {
    case 'msg': {
      const pm = /^(\S+)\s+(.+)$/s.exec(rest);
      if (pm === null) {
        showProblem('usage: /msg NICK text');
        return false;
      }
      return send({ type: 'msg', to: pm[1], text: pm[2] });
    }
    case 'join':
      if (!ROOM_RE.test(rest.trim())) {
        showProblem('usage: /join ROOM');
        return false;
      }
      start(chat.nick, rest.trim());
      chat.current = canonicalRoom(rest.trim());
      return true;
    case 'leave':
    case 'part': {
      const room = rest.trim() ? canonicalRoom(rest.trim()) : chat.current;
      if (!send({ type: 'leave', room })) return false;
      chat.rooms = chat.rooms.filter((r) => r !== room);
      chat.joined.delete(room);
      chat.rosters.delete(room);
      if (chat.current === room) chat.current = chat.rooms[0] ?? '';
      renderRooms();
      renderPeople();
      updateUrl();
      return true;
    }
    case 'nick':
      if (!NICK_RE.test(rest.trim())) {
        showProblem('usage: /nick NAME (a letter or _, then letters, digits, _ - .)');
        return false;
      }
      chat.nick = rest.trim();
      updateUrl();
      return send({ type: 'nick', nick: chat.nick });
    default:
      showProblem(`unknown command /${name ?? ''}: /msg, /join, /leave, /nick`);
      return false;
  }
}

// A shareable link (?nick=alice&room=lobby) joins at once; otherwise we ask.
{
  const params = new URLSearchParams(location.search);
  const nick = params.get('nick') ?? '';
  const room = params.get('room') ?? 'lobby';
  ui.nick.value = nick;
  ui.room.value = room;
  if (nick !== '' && invalid(nick, room) === undefined) {
    start(nick, room);
  } else {
    setState('not connected');
    ui.joinForm.hidden = false;
    if (nick !== '') showProblem(invalid(nick, room) ?? '');
    ui.nick.focus();
  }
}
