//! `format=csv`: a header row and one line per report row, columns in a fixed order, so a
//! spreadsheet or a script can rely on them. Empty cells are JSON's `null`.

use actix_web::{http::header, HttpResponse};
use serde_json::{Map, Value};

use crate::http::error::ApiError;

pub type Row = Map<String, Value>;

pub fn response(filename: &str, columns: &[&str], rows: &[Row]) -> Result<HttpResponse, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(columns).map_err(ApiError::internal)?;
    for row in rows {
        out.write_record(columns.iter().map(|c| cell(row.get(*c))))
            .map_err(ApiError::internal)?;
    }
    let body = out.into_inner().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body))
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The fields of `value` (an object) with those of its nested objects named in `nested`
/// lifted to the top, as CSV columns are flat.
pub fn flatten(value: &Value, nested: &[&str]) -> Row {
    let mut row = value.as_object().cloned().unwrap_or_default();
    for key in nested {
        if let Some(Value::Object(inner)) = row.remove(*key) {
            row.extend(inner);
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_are_plain_text_and_null_is_empty() {
        assert_eq!(cell(Some(&json!("a,b"))), "a,b");
        assert_eq!(cell(Some(&json!(0.25))), "0.25");
        assert_eq!(cell(Some(&json!(null))), "");
        assert_eq!(cell(None), "");
        assert_eq!(cell(Some(&json!(true))), "true");
    }

    #[test]
    fn nested_objects_are_lifted() {
        let row = flatten(&json!({"a": 1, "cost": {"b": 2}}), &["cost"]);
        assert_eq!(row.get("b"), Some(&json!(2)));
        assert!(row.get("cost").is_none());
    }
}
