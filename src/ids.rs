//! Ids are integers in the database and opaque strings on the wire, so clients never do
//! arithmetic on them and the encoding may change without breaking them.

use serde::Serializer;

pub fn id_string<S: Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

pub fn opt_id_string<S: Serializer>(id: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}
