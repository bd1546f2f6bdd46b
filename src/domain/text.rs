//! Free-text fields: trimmed, non-empty, bounded, no control characters.

use super::Invalid;

pub fn bounded(field: &'static str, raw: &str, max_chars: usize) -> Result<String, Invalid> {
    let value = raw.trim();
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(Invalid::malformed(
            field,
            "invalid_text",
            format!("must be 1 to {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::malformed(
            field,
            "invalid_text",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A platform name such as `instagram` or `tiktok`, stored lower-case.
pub fn platform(raw: &str) -> Result<String, Invalid> {
    let value = bounded("platform", raw, 40)?.to_ascii_lowercase();
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Invalid::malformed(
            "platform",
            "invalid_platform",
            "may contain only letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(value)
}

/// A plausible e-mail address: one `@`, something on both sides, a dot in the domain.
/// Deliverability is the mail system's business, not ours.
pub fn email(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let value = bounded(field, raw, 254)?;
    let plausible = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if plausible {
        Ok(value)
    } else {
        Err(Invalid::malformed(
            field,
            "invalid_email",
            format!("{raw:?} is not an e-mail address"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(bounded("name", "  Summer  ", 10).unwrap(), "Summer");
        assert!(bounded("name", "   ", 10).is_err());
        assert!(bounded("name", "x\u{0}y", 10).is_err());
        assert!(bounded("name", &"é".repeat(11), 10).is_err());
        assert!(bounded("name", &"é".repeat(10), 10).is_ok());
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(email("contact_email", "emma@example.com").is_ok());
        for bad in [
            "emma",
            "@example.com",
            "emma@localhost",
            "a@b@c.com",
            "em ma@x.com",
        ] {
            assert_eq!(
                email("contact_email", bad).unwrap_err().code,
                "invalid_email",
                "{bad}"
            );
        }
    }

    #[test]
    fn platforms_are_lower_cased_words() {
        assert_eq!(platform("Instagram").unwrap(), "instagram");
        assert!(platform("insta gram").is_err());
    }
}
