//! `/v1/influencers` (create, read, patch, list): a handle is validated once
//! ([`crate::domain::slug`]) and is unique, a taken one is `409`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use sqlx::{Postgres, Transaction};

use super::patch::{self, Patchable, Patched};
use crate::{
    domain::{money, slug::Handle, text, Invalid},
    http::{
        auth::Admin,
        error::ApiError,
        pagination,
        wire::{nullable, path_id},
    },
    state::AppState,
    storage::{
        influencers::{self, Influencer, InfluencerFields},
        StorageError,
    },
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

pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    query: web::Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let rows = influencers::list(&state.db, page).await?;
    Ok(HttpResponse::Ok().json(pagination::list(rows, page, |i| i.id)))
}
