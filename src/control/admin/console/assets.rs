//! The console's page, script and style, embedded in the binary at build time: the page
//! needs nothing from the network, and the `Content-Security-Policy` allows nothing else.

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{self, ProxyBody};

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

fn asset(body: &'static str, content_type: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(body::full(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET /console`: the page (it signs in and reads everything through the API).
pub fn page() -> Response<ProxyBody> {
    asset(PAGE, "text/html; charset=utf-8")
}

/// `GET /console/console.js`.
pub fn script() -> Response<ProxyBody> {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /console/console.css`.
pub fn style() -> Response<ProxyBody> {
    asset(STYLE, "text/css; charset=utf-8")
}
