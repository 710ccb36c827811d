/**
 * The Lua scripts of the Redis chat bus: each does, atomically in Redis,
 * what would race if done in several round trips.
 */

/**
 * Renews this node's nick leases (KEYS: lease keys; ARGV[1]: TTL ms,
 * ARGV[2..]: the values this node set). A lease that is gone (expired while
 * cut off, or Redis restarted empty) is taken again; one someone else holds
 * now is lost. Returns the 1-based indexes of the lost ones.
 */
export const RENEW_LEASES = `
local lost = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not v then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
  else
    lost[#lost + 1] = i
  end
end
return lost`;

/** Deletes a lease only if it is still this node's (KEYS[1]: lease key, ARGV[1]: its value). */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Takes a dead node's members out of every roster, once: the node that
 * removes it from the node set does it, and says `left` for each member on
 * the presence stream. A node whose heartbeat is back meanwhile (it was cut
 * off and has just rebuilt) is left alone. It marks the node reaped (for
 * ARGV[5] ms), so that if it comes back it says `joined` again for its
 * members. KEYS: nodes set, the dead node's members set, the presence
 * stream, its heartbeat key, its reaped mark; ARGV: dead node id, key
 * prefix, presence MAXLEN, ts, mark TTL.
 */
export const REAP_NODE = `
if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('SET', KEYS[5], '1', 'PX', ARGV[5])
local members = redis.call('SMEMBERS', KEYS[2])
for _, m in ipairs(members) do
  local sp = string.find(m, ' ', 1, true)
  if sp then
    local room = string.sub(m, 1, sp - 1)
    local nick = string.sub(m, sp + 1)
    redis.call('ZREM', ARGV[2] .. 'roster:' .. room, nick)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'node', ARGV[1], 'type', 'left',
      'ts', ARGV[4], 'room', room, 'nick', nick, 'reason', 'node_lost')
  end
end
redis.call('DEL', KEYS[2])
return #members`;

/**
 * Takes a member who left while this node could not reach Redis out of a
 * room's roster, and says so on the presence stream — unless someone else
 * holds the nick now (a node cut off may not remove the new holder) or it is
 * not in the roster any more (the node was reaped meanwhile: the others were
 * told already). KEYS: roster, the nick's lease, the presence stream; ARGV:
 * this node, room, nick, reason, ts, presence MAXLEN. Returns 1 if it said so.
 */
export const LEFT_WHILE_DOWN = `
local v = redis.call('GET', KEYS[2])
if v and string.sub(v, 1, #ARGV[1] + 1) ~= ARGV[1] .. ':' then return 0 end
if redis.call('ZREM', KEYS[1], ARGV[3]) == 0 then return 0 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'node', ARGV[1], 'type', 'left',
  'ts', ARGV[5], 'room', ARGV[2], 'nick', ARGV[3], 'reason', ARGV[4])
return 1`;
