//! Pure domain types and rules: no I/O. A value of one of these types has passed its
//! `parse`, so code past the HTTP boundary never re-checks it.

pub mod attribution;
pub mod checkout;
pub mod click_id;
pub mod code;
pub mod conversion;
pub mod destination;
pub mod device;
pub mod discount;
pub mod fraud;
pub mod hex;
pub mod kpi;
pub mod link;
pub mod money;
pub mod report;
pub mod rollup;
pub mod slug;
pub mod text;
pub mod time;
pub mod url;
pub mod visitor;

#[cfg(test)]
mod hostile_input;

/// Why a client-supplied value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The JSON field (or query parameter) at fault.
    pub field: &'static str,
    /// Machine-readable reason, e.g. `invalid_slug`.
    pub code: &'static str,
    pub message: String,
    /// `Malformed` values are 400s; `NotAllowed` ones are well-formed but refused (422).
    pub kind: InvalidKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    Malformed,
    NotAllowed,
}

impl Invalid {
    pub fn malformed(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            code,
            message: message.into(),
            kind: InvalidKind::Malformed,
        }
    }

    pub fn not_allowed(
        field: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Invalid {
            field,
            code,
            message: message.into(),
            kind: InvalidKind::NotAllowed,
        }
    }
}
