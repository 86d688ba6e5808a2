//! The Lua scripts Redis runs atomically, one round trip each. Times are Redis's own clock
//! (`TIME`) in microseconds, so replicas whose clocks differ still share one bucket; every
//! script answers -1 for "allowed" and otherwise the wait in microseconds.

use std::sync::LazyLock;

use redis::Script;

/// GCRA, as [`MemoryCounters`](crate::control::rate_limits::MemoryCounters) keeps it: the
/// key holds the theoretical arrival time of the next request. ARGV: the interval between
/// two requests and the tolerance (interval × (capacity − 1)).
pub static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then return ahead - tolerance end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.floor((new - now) / 1000) + 1)
return -1
",
    )
});

/// Whether a token budget has a token left ([`token_budgets::check`]); the key holds when
/// every token spent so far has refilled. ARGV: the window and one token's refill time.
///
/// [`token_budgets::check`]: crate::control::token_budgets::check
pub static TOKENS_LEFT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local at = tonumber(redis.call('GET', KEYS[1]))
if not at then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ahead = at - now
if ahead < tonumber(ARGV[1]) then return -1 end
return ahead - tonumber(ARGV[1]) + tonumber(ARGV[2])
",
    )
});

/// Spends tokens from a budget ([`token_budgets::spend`]). ARGV: the spent tokens' refill
/// time and the cap (two windows).
///
/// [`token_budgets::spend`]: crate::control::token_budgets::spend
pub static SPEND_TOKENS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = tonumber(redis.call('GET', KEYS[1])) or now
if at < now then at = now end
local ahead = at - now + tonumber(ARGV[1])
if ahead > tonumber(ARGV[2]) then ahead = tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], string.format('%.0f', now + ahead), 'PX', math.floor(ahead / 1000) + 1)
return -1
",
    )
});

/// Claims a held request for an answer: only the first answer wins (the record is deleted),
/// the answer is kept a minute for a replica that missed the announcement, and it is
/// announced. KEYS: the record, the pending set, the answer. ARGV: the id, the channel, the
/// announcement. 1 when claimed, 0 when no such request waits.
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[3], 'PX', 60000)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
",
    )
});

/// The records of every held request not yet expired (expired ones leave the pending set).
/// KEYS: the pending set. ARGV: the records' key prefix.
pub static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then table.insert(out, v) else redis.call('ZREM', KEYS[1], id) end
end
return out
",
    )
});

/// Records a held request until its timeout. KEYS: the record, the pending set. ARGV: the
/// id, the record, the timeout in milliseconds.
pub static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return -1
",
    )
});

/// Ends a hold at its timeout: removes its record, or, when an answer claimed it first,
/// returns that answer. KEYS: the record, the pending set, the answer. ARGV: the id.
pub static END: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
return redis.call('GET', KEYS[3])
",
    )
});
