//! Promo codes: case-insensitive, stored and shown upper-case.

use super::{stored::stored_as_text, Invalid};

/// Unambiguous upper-case alphabet for generated codes: no `0/O`, `1/I/L`, so a code read
/// aloud in a video or copied from a story is typed right the first time.
pub const GENERATED_CODE_ALPHABET: [char; 31] = [
    '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'M',
    'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
];
/// 31^10 ≈ 8e14 random parts: guessing one of 10 000 issued codes takes ~1e11 tries.
pub const DEFAULT_GENERATED_LENGTH: usize = 10;
pub const MIN_GENERATED_LENGTH: usize = 8;
pub const MAX_LEN: usize = 40;
pub const MAX_PREFIX_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromoCode(String);

stored_as_text!(PromoCode, PromoCode::stored);

fn is_code_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

impl PromoCode {
    /// A code as a customer or a manager typed it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_ascii_uppercase();
        if value.len() < 2 || value.len() > MAX_LEN {
            return Err(Invalid::malformed(
                "code",
                "invalid_code",
                format!("must be 2 to {MAX_LEN} characters"),
            ));
        }
        let first_ok = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok || !value.chars().all(is_code_char) {
            return Err(Invalid::malformed(
                "code",
                "invalid_code",
                "may contain only letters, digits, '-' and '_', starting with a letter or digit",
            ));
        }
        Ok(PromoCode(value))
    }

    /// A code as `promo_codes.code` holds it: already canonical, so only its shape (the
    /// column's CHECK) is checked.
    fn stored(raw: &str) -> Option<Self> {
        let first_ok = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        ((2..=MAX_LEN).contains(&raw.len()) && first_ok && raw.chars().all(is_code_char))
            .then(|| PromoCode(raw.to_owned()))
    }

    /// `prefix` followed by `length` random characters of the unambiguous alphabet.
    pub fn generate(prefix: &CodePrefix, length: usize) -> Self {
        let random = nanoid::nanoid!(length, &GENERATED_CODE_ALPHABET);
        PromoCode(format!("{}{random}", prefix.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fixed start of bulk-generated codes (`SUMMER-`…), possibly empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodePrefix(String);

impl CodePrefix {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_ascii_uppercase();
        if value.is_empty() {
            return Ok(CodePrefix::default());
        }
        let first_ok = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if value.len() > MAX_PREFIX_LEN || !first_ok || !value.chars().all(is_code_char) {
            return Err(Invalid::malformed(
                "prefix",
                "invalid_prefix",
                format!(
                    "at most {MAX_PREFIX_LEN} letters, digits, '-' or '_', starting with a letter or digit"
                ),
            ));
        }
        Ok(CodePrefix(value))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_case_insensitive() {
        assert_eq!(
            PromoCode::parse(" emma20 ").unwrap(),
            PromoCode::parse("EMMA20").unwrap()
        );
        assert_eq!(PromoCode::parse("emma20").unwrap().as_str(), "EMMA20");
    }

    #[test]
    fn codes_outside_the_alphabet_or_length_are_refused() {
        for bad in [
            "",
            "A",
            "EMMA 20",
            "EMMA%20",
            "-EMMA",
            "ÉMMA",
            &"A".repeat(41),
        ] {
            assert_eq!(
                PromoCode::parse(bad).unwrap_err().code,
                "invalid_code",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_stored_code_must_already_be_canonical() {
        assert_eq!(PromoCode::stored("EMMA20"), PromoCode::parse("emma20").ok());
        for raw in ["emma20", " EMMA20", "A", "-EMMA", &"A".repeat(41)] {
            assert_eq!(PromoCode::stored(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn generated_codes_carry_the_prefix_and_avoid_ambiguous_characters() {
        let prefix = CodePrefix::parse("summer-").unwrap();
        for _ in 0..500 {
            let code = PromoCode::generate(&prefix, DEFAULT_GENERATED_LENGTH);
            let random = code.as_str().strip_prefix("SUMMER-").expect("prefix kept");
            assert_eq!(random.len(), DEFAULT_GENERATED_LENGTH);
            assert!(!random.contains(['0', 'O', '1', 'I', 'L']));
            assert_eq!(PromoCode::parse(code.as_str()).unwrap(), code);
        }
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(CodePrefix::parse("").unwrap().is_empty());
        assert_eq!(CodePrefix::parse("a b").unwrap_err().code, "invalid_prefix");
        assert_eq!(
            CodePrefix::parse(&"A".repeat(17)).unwrap_err().code,
            "invalid_prefix"
        );
    }
}
