//! The console's sign-in sessions: a person signs in once with an admin or approver token
//! and gets a random session id in an `HttpOnly`, `SameSite=Strict` cookie, plus a CSRF
//! token the page sends with every change. Sessions live in this process only, end after
//! [`IDLE`] without a request or [`LIFETIME`] in all, and at sign-out; the store keeps at
//! most [`MAX_SESSIONS`] (the oldest goes first). Ids are kept as SHA-256 digests, so the
//! store holds nothing a reader of memory dumps could replay as a cookie.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "keyward_console";
/// A session ends after this long without a request (the page polls while open).
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 256;

/// A signed-in person, as a request's cookie names them.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token's name: who approves, denies or pauses.
    pub name: String,
    /// What a change must carry in its `X-Keyward-Csrf` header.
    pub csrf: String,
}

struct Stored {
    session: Session,
    created: Instant,
    last_seen: Instant,
}

/// The sessions of this process.
#[derive(Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Stored>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// 32 random bytes, URL-safe base64 (43 characters).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Starts a session for `name`: its id (the cookie's value) and the session.
    pub fn start(&self, name: &str) -> Option<(String, Session)> {
        let id = random_token();
        let session = Session {
            name: name.to_owned(),
            csrf: random_token(),
        };
        let now = Instant::now();
        let mut map = self.by_digest.lock().ok()?;
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            digest(&id),
            Stored {
                session: session.clone(),
                created: now,
                last_seen: now,
            },
        );
        Some((id, session))
    }

    /// The live session `id` names, marked as seen now.
    pub fn find(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.by_digest.lock().ok()?;
        let key = digest(id);
        let stored = map.get_mut(&key)?;
        if !alive(stored, now) {
            map.remove(&key);
            return None;
        }
        stored.last_seen = now;
        Some(stored.session.clone())
    }

    /// Ends the session `id` names (sign-out).
    pub fn end(&self, id: &str) {
        if let Ok(mut map) = self.by_digest.lock() {
            map.remove(&digest(id));
        }
    }
}

fn alive(stored: &Stored, now: Instant) -> bool {
    now.duration_since(stored.created) < LIFETIME && now.duration_since(stored.last_seen) < IDLE
}

/// Whether `given` is the session's CSRF token (constant time).
pub fn csrf_matches(session: &Session, given: &[u8]) -> bool {
    bool::from(session.csrf.as_bytes().ct_eq(given))
}

/// The value of the console's cookie in a `Cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_only_and_ends_at_sign_out() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start("ops").unwrap();
        assert_eq!(id.len(), 43);
        assert_ne!(id, session.csrf);
        assert_eq!(sessions.find(&id).unwrap().name, "ops");
        assert!(sessions.find("not-a-session").is_none());
        assert!(csrf_matches(&session, session.csrf.as_bytes()));
        assert!(!csrf_matches(&session, b"forged"));
        sessions.end(&id);
        assert!(sessions.find(&id).is_none());
    }

    #[test]
    fn the_oldest_session_goes_when_the_store_is_full() {
        let sessions = Sessions::default();
        let (first, _) = sessions.start("a").unwrap();
        let mut last = String::new();
        for _ in 0..MAX_SESSIONS {
            last = sessions.start("b").unwrap().0;
        }
        assert!(sessions.find(&first).is_none());
        assert!(sessions.find(&last).is_some());
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        assert_eq!(cookie_value("a=1; keyward_console=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("keyward_consolex=1"), None);
        assert_eq!(cookie_value(""), None);
    }
}
