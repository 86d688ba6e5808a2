//! Secret managers' HTTP APIs reached through keyward's upstream client (the
//! [`TokenClient`] slot OAuth 2.0 token endpoints use): verified TLS, the destination
//! guard and `--resolve` pins of any upstream, a bounded answer and a time limit.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

use super::oauth2::TokenClient;

/// Largest answer read.
const MAX_ANSWER: usize = 256 * 1024;
/// How long one API call may take in all.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An API call on its way: the status and body, or why there is none (never a value).
pub type Calling<'a> = Pin<Box<dyn Future<Output = Result<(u16, Bytes), String>> + Send + 'a>>;

/// Sends a request to a secret manager.
pub trait ApiClient: Send + Sync + 'static {
    fn call(&self, req: http::Request<Bytes>) -> Calling<'_>;
}

/// [`ApiClient`] over keyward's upstream client, once the proxy has built it.
pub struct UpstreamApi(pub TokenClient);

impl ApiClient for UpstreamApi {
    fn call(&self, req: http::Request<Bytes>) -> Calling<'_> {
        Box::pin(async move {
            let upstream = self
                .0
                .get()
                .ok_or_else(|| "keyward's upstream client is not running".to_owned())?;
            let req = req.map(crate::body::full);
            let exchange = async {
                let resp = upstream.send(req).await.map_err(|e| e.reason())?;
                let status = resp.status().as_u16();
                let body = Limited::new(resp.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map_err(|_| format!("the answer is over {MAX_ANSWER} bytes or broken"))?
                    .to_bytes();
                Ok((status, body))
            };
            tokio::time::timeout(TIMEOUT, exchange)
                .await
                .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
        })
    }
}

/// An [`ApiClient`] that records what it was sent and answers from a script.
#[cfg(test)]
pub mod fake {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;

    use super::{ApiClient, Calling};

    /// A scripted answer: status and body, or why there is none.
    type Answer = Result<(u16, String), String>;

    #[derive(Clone, Default)]
    pub struct Fake {
        pub sent: Arc<Mutex<Vec<http::Request<Bytes>>>>,
        answers: Arc<Mutex<VecDeque<Answer>>>,
    }

    impl Fake {
        pub fn answer(&self, status: u16, body: &str) {
            self.answers
                .lock()
                .unwrap()
                .push_back(Ok((status, body.into())));
        }
        pub fn fail(&self, reason: &str) {
            self.answers.lock().unwrap().push_back(Err(reason.into()));
        }
        pub fn count(&self) -> usize {
            self.sent.lock().unwrap().len()
        }
        /// The `n`th request's header `name` as text.
        pub fn header(&self, n: usize, name: &str) -> Option<String> {
            let sent = self.sent.lock().unwrap();
            let value = sent.get(n)?.headers().get(name)?;
            Some(value.to_str().unwrap().to_owned())
        }
    }

    impl ApiClient for Fake {
        fn call(&self, req: http::Request<Bytes>) -> Calling<'_> {
            self.sent.lock().unwrap().push(req);
            let answer = self.answers.lock().unwrap().pop_front();
            Box::pin(async move {
                match answer {
                    Some(Ok((status, body))) => Ok((status, Bytes::from(body))),
                    Some(Err(reason)) => Err(reason),
                    None => Err("connection refused".into()),
                }
            })
        }
    }
}
