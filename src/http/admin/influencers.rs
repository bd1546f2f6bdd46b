//! `/v1/influencers`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::{
    domain::{money, slug::Handle, text, Invalid},
    http::{
        auth::Admin,
        error::ApiError,
        pagination,
        wire::{nullable, path_id},
    },
    state::AppState,
    storage::influencers::{self, InfluencerFields},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInfluencer {
    handle: String,
    display_name: Option<String>,
    platform: Option<String>,
    followers: Option<i64>,
    contact_email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchInfluencer {
    handle: Option<String>,
    display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    platform: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    followers: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    contact_email: Option<Option<String>>,
}

impl CreateInfluencer {
    fn validate(self) -> Result<InfluencerFields, Invalid> {
        let handle = Handle::parse(&self.handle)?.as_str().to_owned();
        Ok(InfluencerFields {
            // Without a display name the handle is the best name we have.
            display_name: match self.display_name {
                Some(name) => text::bounded("display_name", &name, 200)?,
                None => handle.clone(),
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
            f.handle = Handle::parse(&handle)?.as_str().to_owned();
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

pub async fn create(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<CreateInfluencer>,
) -> Result<HttpResponse, ApiError> {
    let fields = body.into_inner().validate()?;
    let influencer = influencers::insert(&state.db, &fields).await?;
    Ok(HttpResponse::Created().json(influencer))
}

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

pub async fn patch(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<PatchInfluencer>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "influencer")?;
    let mut tx = state.db.begin().await.map_err(ApiError::internal)?;
    let current = influencers::lock(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("influencer"))?;
    let fields = body.into_inner().apply(current.into())?;
    let updated = influencers::update(&mut tx, id, &fields).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(updated))
}

pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = influencers::list(&state.db, page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |i| i.id)))
}
