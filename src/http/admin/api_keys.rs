//! `/v1/api-keys`: the secret is in the creation response and nowhere else, ever.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    auth::{self, Scope},
    domain::text,
    http::json::Json,
    http::{
        auth::Admin,
        error::ApiError,
        pagination::{self, PageQuery},
        wire::{path_id, List},
    },
    ids::id_string,
    pipeline::changes,
    state::AppState,
    storage::api_keys::{self, ApiKeyRow},
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    id: i64,
    name: String,
    scope: Scope,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(row: ApiKeyRow) -> Self {
        ApiKeyView {
            id: row.id,
            name: row.name,
            scope: row.scope,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    view: ApiKeyView,
    /// The secret: shown in this response only.
    key: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(min_length = 1)]
    name: String,
    scope: Scope,
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with its secret.", body = CreatedKey),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let name = text::bounded("name", &body.name, 100)?;
    let secret = auth::generate_secret();
    let row = api_keys::insert(&state.db, &name, body.scope, &secret).await?;
    Ok(HttpResponse::Created().json(CreatedKey {
        view: row.into(),
        key: secret.secret,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of keys (never their secrets).", body = List<ApiKeyView>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = api_keys::list(&state.db, page).await?;
    let list = pagination::list(rows, page, |k| k.id);
    Ok(HttpResponse::Ok().json(crate::http::wire::List {
        data: list.data.into_iter().map(ApiKeyView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// Revokes at once: the next request with the key is a 401.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "The API key's id.")),
    responses(
        (status = 200, description = "The key, revoked.", body = ApiKeyView),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn revoke(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "API key")?;
    let row = api_keys::revoke(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    changes::forget_everywhere(
        &*state.api_keys,
        &state.redis,
        &state.keys.key_changes(),
        &[&row.prefix],
        "api keys",
    )
    .await;
    Ok(HttpResponse::Ok().json(ApiKeyView::from(row)))
}
