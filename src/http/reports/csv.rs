//! `format=csv`: a header row and one line per report row, columns in a fixed order, so a
//! spreadsheet or a script can rely on them. Empty cells are JSON's `null`.
//!
//! No cell can run as a spreadsheet formula: a text cell that begins with `=`, `+`, `-`,
//! `@`, a tab or a carriage return is written with a leading `'` (OWASP's rule against CSV
//! injection), since text such as a referrer host, a country or a browser name comes from
//! visitors. Numbers are written as they are: the server formats them itself, so a `-5`
//! is a negative number, not a formula, and a script reading the file gets it unchanged.

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
        Some(Value::String(s)) => defused(s),
        Some(other) => other.to_string(),
    }
}

/// `text`, with a `'` before it when a spreadsheet would read it as a formula. A text
/// cell that is a plain decimal number (`-12.50`) is left alone: it can only be read as
/// that number, and some amounts travel as strings.
fn defused(text: &str) -> String {
    let formula_like = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula_like && !is_plain_number(text) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
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
    fn text_that_a_spreadsheet_would_run_is_prefixed() {
        for text in [
            "=1+2",
            "+1",
            "-1+2",
            "-",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "=HYPERLINK(\"x\")",
        ] {
            assert_eq!(cell(Some(&json!(text))), format!("'{text}"), "{text:?}");
        }
    }

    #[test]
    fn numbers_and_harmless_text_are_written_as_they_are() {
        assert_eq!(cell(Some(&json!(-5))), "-5");
        assert_eq!(cell(Some(&json!(-0.25))), "-0.25");
        assert_eq!(cell(Some(&json!("-12.50"))), "-12.50");
        assert_eq!(cell(Some(&json!("-7"))), "-7");
        assert_eq!(cell(Some(&json!("example.com"))), "example.com");
        assert_eq!(cell(Some(&json!("a=b"))), "a=b");
        assert_eq!(cell(Some(&json!("'quoted"))), "'quoted");
    }

    #[test]
    fn nested_objects_are_lifted() {
        let row = flatten(&json!({"a": 1, "cost": {"b": 2}}), &["cost"]);
        assert_eq!(row.get("b"), Some(&json!(2)));
        assert!(row.get("cost").is_none());
    }
}
