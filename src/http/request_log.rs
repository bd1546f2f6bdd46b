//! Every request's id, and one access-log line per API request.
//!
//! The id is the client's `X-Request-Id` when it is 1–128 printable ASCII characters
//! (what a proxy or the shop's own tracing sent), else a fresh one. It is echoed in the
//! response and is the `request_id` field of a span the whole request runs in, so every
//! line logged while serving it carries it. The access line names the route template,
//! never the path: paths hold slugs, codes and order ids, and templates keep the log (like
//! the metrics) free of what clients typed. No line carries the client's address.
//!
//! Redirects get an id too but no access line: at thousands a second they would be most
//! of the log, and `attrib_redirects_total` counts them. The probes (`/healthz`,
//! `/readyz`, `/metrics`, polled every few seconds) are logged at `debug`.

use std::{
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Instant,
};

use actix_web::{
    dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform},
    http::{
        header::{HeaderName, HeaderValue},
        Method,
    },
    Error,
};
use futures_util::future::{ready, Ready};
use tracing::{instrument::Instrumented, Instrument};

use super::request_metrics::UNMATCHED;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen id kept; a longer one is replaced.
const MAX_ID_LEN: usize = 128;

/// Routes answered without an access line ([`super::redirect`]).
const REDIRECT: &str = "/{slug}";
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The client's id if it will do, else a new one.
fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    given
        .filter(|value| acceptable(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// 128 random bits in hex, from the thread's CSPRNG: a tenth of what nanoid costs (it
/// asks the kernel for each id), which the redirect path would feel.
fn new_request_id() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    // Hex digits are always a valid header value.
    HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"))
}

fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len()) && id.iter().all(|b| (b' '..=b'~').contains(b))
}

/// The middleware: wrap the whole app with it, outermost, so the id covers everything.
#[derive(Clone, Copy, Default)]
pub struct LogRequests;

impl<S, B> Transform<S, ServiceRequest> for LogRequests
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = LogRequestsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(LogRequestsService {
            service: Rc::new(service),
        }))
    }
}

pub struct LogRequestsService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for LogRequestsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Logged<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let id = request_id(req.headers().get(REQUEST_ID));
        // Printable ASCII, checked above or generated.
        let shown = id.to_str().unwrap_or("-");
        let span = tracing::info_span!("request", request_id = shown);
        let method = req.method().clone();
        let inner = span.in_scope(|| self.service.call(req)).instrument(span);
        Logged {
            inner,
            id,
            method,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct Logged<F> {
        #[pin]
        inner: Instrumented<F>,
        id: HeaderValue,
        method: Method,
        started: Instant,
    }
}

impl<F, B> Future for Logged<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut result = std::task::ready!(this.inner.as_mut().poll(cx));
        let duration_ms = this.started.elapsed().as_secs_f64() * 1000.0;
        let _in_request = this.inner.span().enter();
        match &mut result {
            Ok(response) => {
                response.headers_mut().insert(REQUEST_ID, this.id.clone());
                let route = response.request().match_name().unwrap_or(UNMATCHED);
                let status = response.status().as_u16();
                if PROBES.contains(&route) {
                    tracing::debug!(method = %this.method, route, status, duration_ms, "request");
                } else if route != REDIRECT {
                    tracing::info!(method = %this.method, route, status, duration_ms, "request");
                }
            }
            Err(e) => {
                let status = e.as_response_error().status_code().as_u16();
                tracing::info!(method = %this.method, route = UNMATCHED, status, duration_ms, "request");
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_kept_only_when_it_is_short_printable_ascii() {
        let kept = |raw: &[u8]| {
            let given = HeaderValue::from_bytes(raw).expect("a header value");
            request_id(Some(&given)) == given
        };
        assert!(kept(b"a"));
        assert!(kept(b"req 42/shop~checkout"));
        assert!(kept(&[b'x'; 128]));
        assert!(!kept(&[b'x'; 129]));
        assert!(!kept(b"tab\there"));
        assert!(!kept("caf\u{e9}".as_bytes()));
        assert!(!kept(b""));
        let generated = request_id(None);
        assert!(acceptable(generated.as_bytes()));
        assert_ne!(generated, request_id(None));
    }
}
