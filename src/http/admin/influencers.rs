//! `/v1/influencers` (create, read, patch, list): a handle is validated once
//! ([`crate::domain::slug`]) and is unique, a taken one is `409`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use sqlx::{Postgres, Transaction};

use super::patch::{self, Patchable, Patched};
use crate::{
    domain::{money, slug::Handle, text, Invalid},
    http::json::Json,
    http::{
        auth::Admin,
        error::{ApiError, Body as ErrorBody},
        pagination::{self, PageQuery},
        wire::{nullable, path_id, List},
    },
    state::AppState,
    storage::{
        influencers::{self, Influencer, InfluencerFields},
        StorageError,
    },
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInfluencer {
    /// 1 to 64 letters, digits, `-`, `_` and `.`; a leading `@` is dropped; unique.
    #[schema(min_length = 1)]
    handle: String,
    /// Default: the handle.
    #[schema(min_length = 1)]
    display_name: Option<String>,
    #[schema(min_length = 1)]
    platform: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    followers: Option<i64>,
    #[schema(min_length = 1)]
    contact_email: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInfluencer {
    #[schema(min_length = 1)]
    handle: Option<String>,
    #[schema(min_length = 1)]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    platform: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_i64)]
    followers: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1)]
    contact_email: Option<Option<String>>,
}

impl CreateInfluencer {
    fn validate(self) -> Result<InfluencerFields, Invalid> {
        let handle = Handle::parse(&self.handle)?;
        Ok(InfluencerFields {
            // Without a display name the handle is the best name we have.
            display_name: match self.display_name {
                Some(name) => text::bounded("display_name", &name, 200)?,
                None => handle.as_str().to_owned(),
            },
            handle,
            platform: self.platform.as_deref().map(text::platform).transpose()?,
            followers: self
                .followers
                .map(|f| money::count("followers", f))
                .transpose()?,
            contact_email: self
                .contact_email
                .as_deref()
                .map(|e| text::email("contact_email", e))
                .transpose()?,
        })
    }
}

impl PatchInfluencer {
    fn apply(self, mut f: InfluencerFields) -> Result<InfluencerFields, Invalid> {
        if let Some(handle) = self.handle {
            f.handle = Handle::parse(&handle)?;
        }
        if let Some(name) = self.display_name {
            f.display_name = text::bounded("display_name", &name, 200)?;
        }
        if let Some(platform) = self.platform {
            f.platform = platform.as_deref().map(text::platform).transpose()?;
        }
        if let Some(followers) = self.followers {
            f.followers = followers
                .map(|v| money::count("followers", v))
                .transpose()?;
        }
        if let Some(email) = self.contact_email {
            f.contact_email = email
                .as_deref()
                .map(|e| text::email("contact_email", e))
                .transpose()?;
        }
        Ok(f)
    }
}

#[utoipa::path(
    post,
    path = "/v1/influencers",
    tag = "influencers",
    request_body = CreateInfluencer,
    responses(
        (status = 201, description = "The influencer.", body = Influencer),
        (status = 409, description = "An influencer has this handle (`handle_taken`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: Json<CreateInfluencer>,
) -> Result<HttpResponse, ApiError> {
    let fields = body.into_inner().validate()?;
    let influencer = influencers::insert(&state.db, &fields).await?;
    Ok(HttpResponse::Created().json(influencer))
}

#[utoipa::path(
    get,
    path = "/v1/influencers/{id}",
    tag = "influencers",
    params(("id" = String, Path, description = "The influencer's id.")),
    responses(
        (status = 200, description = "The influencer.", body = Influencer),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "influencer")?;
    let influencer = influencers::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("influencer"))?;
    Ok(HttpResponse::Ok().json(influencer))
}

#[utoipa::path(
    patch,
    path = "/v1/influencers/{id}",
    tag = "influencers",
    params(("id" = String, Path, description = "The influencer's id.")),
    request_body = PatchInfluencer,
    responses(
        (status = 200, description = "The influencer as changed.", body = Influencer),
        (status = 409, description = "An influencer has this handle (`handle_taken`).", body = ErrorBody),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn patch(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<PatchInfluencer>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "influencer")?;
    let Patched { after, .. } =
        patch::run::<Influencer>(&state.db, &id, |fields, _| body.into_inner().apply(fields))
            .await?;
    Ok(HttpResponse::Ok().json(after))
}

impl Patchable for Influencer {
    type Key = i64;
    type Fields = InfluencerFields;
    const NAME: &'static str = "influencer";

    async fn lock(
        tx: &mut Transaction<'_, Postgres>,
        id: &i64,
    ) -> Result<Option<Self>, StorageError> {
        influencers::lock(tx, *id).await
    }

    async fn update(
        tx: &mut Transaction<'_, Postgres>,
        current: &Self,
        fields: &InfluencerFields,
    ) -> Result<Self, StorageError> {
        influencers::update(tx, current.id, fields).await
    }
}

#[utoipa::path(
    get,
    path = "/v1/influencers",
    tag = "influencers",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of influencers.", body = List<Influencer>),
    ),
    security(("bearer" = ["admin"]))
)]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = influencers::list(&state.db, page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |i| i.id)))
}
