//! Every route the server answers, as data: a path and the methods it takes. The server
//! registers exactly this table and the API description is checked against it
//! (`tests/api/openapi.rs`), so a route cannot be served without being documented, nor
//! documented without being served. A method a path does not take is a JSON `405` with an
//! `Allow` header naming those it does.

use actix_web::{
    http::{header, Method, StatusCode},
    web, FromRequest, Handler, HttpResponse, Resource, Responder, ResponseError, Route,
};

use super::error::ApiError;

/// One path and its handlers, one per method.
pub struct Endpoint {
    path: &'static str,
    routes: Vec<(Method, Route)>,
}

/// The path a group of endpoints is mounted under (`/v1`), or none.
pub struct Section {
    pub prefix: &'static str,
    pub endpoints: Vec<Endpoint>,
}

pub fn at(path: &'static str) -> Endpoint {
    Endpoint {
        path,
        routes: Vec::new(),
    }
}

macro_rules! method {
    ($name:ident, $method:ident) => {
        pub fn $name<F, Args>(self, handler: F) -> Self
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.with(Method::$method, web::method(Method::$method).to(handler))
        }
    };
}

impl Endpoint {
    method!(get, GET);
    method!(head, HEAD);
    method!(post, POST);
    method!(patch, PATCH);
    method!(delete, DELETE);

    fn with(mut self, method: Method, route: Route) -> Self {
        self.routes.push((method, route));
        self
    }

    pub fn path(&self) -> &'static str {
        self.path
    }

    pub fn methods(&self) -> impl Iterator<Item = &Method> {
        self.routes.iter().map(|(method, _)| method)
    }

    /// The resource under `prefix`, named by its full template: what
    /// `HttpRequest::match_name` gives the request metrics, without an allocation.
    pub fn into_resource(self, prefix: &str) -> Resource {
        let allow = self
            .methods()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource = web::resource(self.path).name(&format!("{prefix}{}", self.path));
        for (_, route) in self.routes {
            resource = resource.route(route);
        }
        resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(&allow) }
        }))
    }
}

fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this route takes {allow}"),
    )
    .error_response();
    if let Ok(value) = header::HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Every (method, full path) the server registers, in registration order.
pub fn registered(sections: &[Section]) -> Vec<(Method, String)> {
    sections
        .iter()
        .flat_map(|section| {
            section.endpoints.iter().flat_map(move |endpoint| {
                endpoint.methods().map(move |method| {
                    (
                        method.clone(),
                        format!("{}{}", section.prefix, endpoint.path()),
                    )
                })
            })
        })
        .collect()
}
