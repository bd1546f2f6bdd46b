//! Request bodies: a JSON object, parsed into the handler's type.
//!
//! Not actix's `web::Json`: serde reads a struct from a JSON array as readily as from an
//! object (`[null, null]` fills the first two fields), so a body that is no object would
//! be taken for one whose fields are mostly absent. Here anything but an object is a 400
//! before serde sees it.

use std::ops::Deref;

use actix_web::{dev::Payload, http::StatusCode, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A request body that is a JSON object of shape `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Read under the app's `web::PayloadConfig`, which `BodyLimit` repeats for the message.
        let limit = req.app_data::<BodyLimit>().copied();
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(limit)
                } else {
                    ApiError::bad_request("invalid_body", format!("cannot read request body: {e}"))
                }
            })?;
            object(&bytes).map(Json)
        })
    }
}

/// The largest body the server reads (`ATTRIB_MAX_BODY_BYTES`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn too_large(limit: Option<BodyLimit>) -> ApiError {
    let message = match limit {
        Some(BodyLimit(bytes)) => format!("request body exceeds {bytes} bytes"),
        None => "request body exceeds the limit this server takes".to_owned(),
    };
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

/// `bytes` as a JSON object of shape `T`: `invalid_json` when it is not JSON, `invalid_body`
/// when it is JSON of another shape (an array, a missing or unknown field, a wrong type).
pub fn object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            "invalid request body: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::bad_request("invalid_body", format!("invalid request body: {e}"))
        } else {
            ApiError::bad_request(
                "invalid_json",
                format!("request body is not valid JSON: {e}"),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Patch {
        name: Option<String>,
        count: Option<i64>,
    }

    #[test]
    fn only_an_object_is_a_body() {
        assert!(object::<Patch>(br#" {"name": "x"} "#).is_ok());
        for (body, code) in [
            (&br#"[null, null]"#[..], "invalid_body"),
            (br#"["x", 1]"#, "invalid_body"),
            (br#""x""#, "invalid_body"),
            (br#"null"#, "invalid_body"),
            (br#"{"nme": "x"}"#, "invalid_body"),
            (br#"{"name": "x""#, "invalid_json"),
            (b"", "invalid_json"),
            (b"[", "invalid_json"),
        ] {
            let err = object::<Patch>(body).expect_err(std::str::from_utf8(body).unwrap_or("?"));
            assert_eq!(err.code, code, "{}", String::from_utf8_lossy(body));
        }
    }
}
