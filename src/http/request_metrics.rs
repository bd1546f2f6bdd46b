//! `attrib_http_requests_total` and `attrib_http_request_duration_seconds`: every answer,
//! by route template, method and status.
//!
//! The redirect is the hottest path, so counting must cost it nothing it would notice:
//! the series of each (route, method) of the route table are found by the resource's name
//! (its template, set by [`super::routes`]) in a map built once, and each status's counter
//! is resolved on first use and kept. A request then costs a hash of a short string, two
//! clock reads and atomic adds: no lock, no allocation. Paths no route matches count under
//! one route, `unmatched`.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use actix_web::{
    dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform},
    http::{Method, StatusCode},
    Error,
};
use futures_util::future::{ready, Ready};
use prometheus::{Histogram, IntCounter};

use crate::metrics::Metrics;

/// The `route` of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Statuses whose counters are kept once resolved; any other is looked up each time.
const KEPT_STATUSES: [u16; 16] = [
    200, 201, 202, 302, 400, 401, 403, 404, 405, 409, 410, 413, 422, 429, 500, 503,
];

struct Series {
    route: String,
    method: Method,
    duration: OnceLock<Histogram>,
    statuses: [OnceLock<IntCounter>; KEPT_STATUSES.len()],
}

impl Series {
    fn new(route: String, method: Method) -> Self {
        Series {
            route,
            method,
            duration: OnceLock::new(),
            statuses: Default::default(),
        }
    }

    fn record(&self, metrics: &Metrics, status: StatusCode, seconds: f64) {
        self.duration
            .get_or_init(|| {
                metrics
                    .http_request_duration
                    .with_label_values(&[self.route.as_str(), self.method.as_str()])
            })
            .observe(seconds);
        let labels = [self.route.as_str(), self.method.as_str(), status.as_str()];
        match KEPT_STATUSES.iter().position(|s| *s == status.as_u16()) {
            Some(slot) => self.statuses[slot]
                .get_or_init(|| metrics.http_requests.with_label_values(&labels))
                .inc(),
            None => metrics.http_requests.with_label_values(&labels).inc(),
        }
    }
}

/// Every (route, method) of the route table, resolved once per process.
pub struct RequestMetrics {
    metrics: Arc<Metrics>,
    routes: HashMap<String, Vec<Series>, foldhash::fast::RandomState>,
}

impl RequestMetrics {
    /// `routes`: (method, template) of every route the server registers.
    pub fn new(metrics: Arc<Metrics>, routes: Vec<(Method, String)>) -> Self {
        let mut by_route: HashMap<String, Vec<Series>, _> = HashMap::default();
        for (method, route) in routes {
            by_route
                .entry(route.clone())
                .or_default()
                .push(Series::new(route, method));
        }
        RequestMetrics {
            metrics,
            routes: by_route,
        }
    }

    fn record(&self, route: Option<&str>, method: &Method, status: StatusCode, seconds: f64) {
        let series = route
            .and_then(|route| self.routes.get(route))
            .and_then(|methods| methods.iter().find(|s| s.method == *method));
        match series {
            Some(series) => series.record(&self.metrics, status, seconds),
            // A path no route matched, or a method its route does not take: rare, and
            // bounded (the route is a template or `unmatched`, the method one of a few).
            None => {
                let route = route
                    .and_then(|r| self.routes.get_key_value(r))
                    .map_or(UNMATCHED, |(r, _)| r.as_str());
                let method = method_label(method);
                self.metrics
                    .http_request_duration
                    .with_label_values(&[route, method])
                    .observe(seconds);
                self.metrics
                    .http_requests
                    .with_label_values(&[route, method, status.as_str()])
                    .inc();
            }
        }
    }
}

/// A method as a label: the standard ones by name, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: wrap the whole app with it.
#[derive(Clone)]
pub struct CountRequests(pub Arc<RequestMetrics>);

impl<S, B> Transform<S, ServiceRequest> for CountRequests
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = CountRequestsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CountRequestsService {
            service: Rc::new(service),
            metrics: self.0.clone(),
        }))
    }
}

pub struct CountRequestsService<S> {
    service: Rc<S>,
    metrics: Arc<RequestMetrics>,
}

impl<S, B> Service<ServiceRequest> for CountRequestsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Counted<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let method = req.method().clone();
        Counted {
            inner: self.service.call(req),
            started: Instant::now(),
            method,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, counted when it is ready.
    pub struct Counted<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: Method,
        metrics: Arc<RequestMetrics>,
    }
}

impl<F, B> Future for Counted<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let seconds = this.started.elapsed().as_secs_f64();
        match &result {
            Ok(response) => this.metrics.record(
                response.request().match_name(),
                this.method,
                response.status(),
                seconds,
            ),
            Err(e) => this.metrics.record(
                None,
                this.method,
                e.as_response_error().status_code(),
                seconds,
            ),
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_a_bounded_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let odd = Method::from_bytes(b"PURGE").expect("a method");
        assert_eq!(method_label(&odd), "other");
    }
}
