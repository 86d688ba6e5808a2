//! The widgets setting the head and path refusal tests share: echo upstreams for
//! `api.widgets.example` (HTTPS, h2 and HTTP/1.1) and `plain.widgets.example` (plain HTTP),
//! behind a keyward reading the rules the test wrote.

use super::harness::Running;
use super::upstream::echo;
use super::{Harness, Keyward, TestCa, Upstream};

/// The HTTPS host.
pub const HOST: &str = "api.widgets.example";
/// The plain-HTTP host.
pub const PLAIN: &str = "plain.widgets.example";

pub struct Rig {
    pub tls: Upstream,
    pub plain: Upstream,
    pub keyward: Keyward,
    _ca: TestCa,
    _files: tempfile::TempDir,
}

impl Rig {
    /// Adds both upstreams to `harness` (which holds the rules) and starts it.
    pub async fn start(harness: Harness) -> Rig {
        let Running {
            keyward,
            upstreams,
            ca,
            files,
        } = harness
            .upstream_alpn(&[HOST], &[b"h2", b"http/1.1"], echo())
            .plain_upstream(&[PLAIN], echo())
            .start()
            .await;
        let [tls, plain]: [Upstream; 2] = upstreams.try_into().ok().unwrap();
        Rig {
            tls,
            plain,
            keyward,
            _ca: ca,
            _files: files,
        }
    }

    /// How many requests reached either upstream.
    pub fn reached(&self) -> usize {
        self.tls.count() + self.plain.count()
    }

    /// Asserts that no request reached either upstream (naming those that did).
    pub fn assert_none_reached(&self) {
        assert_eq!(
            self.reached(),
            0,
            "{:?} {:?}",
            self.tls.seen(),
            self.plain.seen()
        );
    }
}
