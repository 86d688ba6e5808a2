//! The token endpoint reached through keyward's upstream client: verified TLS, the same
//! destination guard and `--resolve` pins as any upstream, a bounded answer. The client is
//! set once the proxy has built it ([`TokenClient`]); rules compiled before that (by
//! `keyward check`, say) can be loaded but obtain no token.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt, Limited};

use super::{Posting, TokenEndpoint};
use crate::upstream::Upstream;

/// Largest token answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// How long a token request may take in all.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where token endpoints get their HTTP client from, once it exists.
pub type TokenClient = Arc<OnceLock<Upstream>>;

/// A token endpoint at `url`, posted to with the proxy's upstream client.
pub struct UpstreamEndpoint {
    pub url: http::Uri,
    pub client: TokenClient,
}

impl TokenEndpoint for UpstreamEndpoint {
    fn url(&self) -> String {
        self.url.to_string()
    }

    fn post(&self, form: String, authorization: Option<zeroize::Zeroizing<String>>) -> Posting<'_> {
        Box::pin(async move {
            let upstream = self
                .client
                .get()
                .ok_or_else(|| "keyward's upstream client is not running".to_owned())?;
            let mut req = http::Request::post(self.url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(crate::body::full(form))
                .map_err(|e| e.to_string())?;
            if let Some(auth) = authorization {
                let mut value =
                    HeaderValue::from_str(&auth).map_err(|_| "client credentials".to_owned())?;
                value.set_sensitive(true);
                req.headers_mut().insert(AUTHORIZATION, value);
            }
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
