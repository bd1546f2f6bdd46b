//! The one flow behind every admin `PATCH` (and `DELETE /v1/links/{id}`, which patches
//! `enabled`): begin a transaction, lock the row the path names (404 when there is none),
//! apply the patch to its writable fields through the domain's validation, write them back
//! and commit. What a handler does once the change is committed (drop cached copies,
//! build its view) it does with what [`run`] returns.

use sqlx::{PgPool, Postgres, Transaction};

use crate::{
    domain::Invalid,
    http::error::ApiError,
    storage::{self, StorageError},
};

/// A row an admin `PATCH` edits.
pub(crate) trait Patchable: Clone {
    /// How a path names a row: an id, a promo code, a campaign and influencer.
    type Key: ?Sized;
    /// The writable columns, starting from the row's current values.
    type Fields: From<Self>;
    /// The resource in a 404's message: `"{NAME} not found"`.
    const NAME: &'static str;

    async fn lock(
        tx: &mut Transaction<'_, Postgres>,
        key: &Self::Key,
    ) -> Result<Option<Self>, StorageError>;

    async fn update(
        tx: &mut Transaction<'_, Postgres>,
        current: &Self,
        fields: &Self::Fields,
    ) -> Result<Self, StorageError>;
}

/// A committed change: the row as it was and as it is now.
#[derive(Debug)]
pub(crate) struct Patched<R> {
    pub before: R,
    pub after: R,
}

/// Locks the row named by `key`, gives `apply` its current fields (and the row, for what
/// a patch may depend on) and writes back what `apply` returns, all in one transaction.
/// Nothing is written when the row is missing or `apply` refuses the patch.
pub(crate) async fn run<R: Patchable>(
    db: &PgPool,
    key: &R::Key,
    apply: impl FnOnce(R::Fields, &R) -> Result<R::Fields, Invalid>,
) -> Result<Patched<R>, ApiError> {
    let mut tx = storage::begin(db).await?;
    let before = R::lock(&mut tx, key)
        .await?
        .ok_or_else(|| ApiError::not_found(R::NAME))?;
    let fields = apply(before.clone().into(), &before)?;
    let after = R::update(&mut tx, &before, &fields).await?;
    storage::commit(tx).await?;
    Ok(Patched { before, after })
}
