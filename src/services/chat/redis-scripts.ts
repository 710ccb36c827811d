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
 * the presence stream. KEYS: nodes set, the dead node's members set, the
 * presence stream; ARGV: dead node id, key prefix, presence MAXLEN, ts.
 */
export const REAP_NODE = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return -1 end
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
