//! How the domain's text newtypes are stored: written as their canonical text, read back
//! through a check of their shape. A stored value that is not of that shape fails to decode
//! (an error naming the type, never a guess).
//!
//! The check on the way back is the shape the column's CHECK constraint guarantees, not
//! every rule of the type's `parse`: a rule added later (a new reserved slug, a stricter
//! URL) must not make rows written before it unreadable, and the trimming and case folding
//! of `parse` are for what clients type, not for what was stored canonical.

/// `sqlx` (`text`, and `text[]` for binds of many), serde and the API description (a
/// string) for `$ty`, which has
/// `as_str()`; `$stored` turns a stored `&str` into the type, `None` when it is not one.
macro_rules! stored_as_text {
    ($ty:ty, $stored:expr) => {
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $ty {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let raw = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                let stored: fn(&str) -> Option<$ty> = $stored;
                stored(raw)
                    .ok_or_else(|| format!("stored {raw:?} is not a {}", stringify!($ty)).into())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        // On the wire a string; its rules are in the request fields that take it.
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    };
}

/// serde's `Deserialize` for `$ty` through the same check, for documents (jsonb) that
/// hold it: what was written canonical reads back, anything else is an error.
macro_rules! stored_in_documents {
    ($ty:ty, $stored:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw =
                    <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                let stored: fn(&str) -> Option<$ty> = $stored;
                stored(&raw).ok_or_else(|| {
                    serde::de::Error::custom(format!("stored {raw:?} is not a {}", stringify!($ty)))
                })
            }
        }
    };
}

pub(super) use {stored_as_text, stored_in_documents};
