//! Field rules shared by every way in (API, CLI, provisioning file). Each failure names the
//! field and says what is wrong.

use crate::error::{CoreError, CoreResult};

/// A slug: 2..=63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn slug(field: &str, value: &str) -> CoreResult<()> {
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(2..=63).contains(&value.len())
        || !ok_chars
        || value.starts_with('-')
        || value.ends_with('-')
    {
        return Err(CoreError::invalid(
            field,
            format!("`{}` must be 2 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'", clip(value)),
        ));
    }
    Ok(())
}

/// A user name: 2..=64 of `[a-z0-9._-]`, starting with a letter or digit.
pub fn username(field: &str, value: &str) -> CoreResult<()> {
    let ok_chars = value.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
    });
    let ok_start = value
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(2..=64).contains(&value.len()) || !ok_chars || !ok_start {
        return Err(CoreError::invalid(
            field,
            format!(
                "`{}` must be 2 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
                clip(value)
            ),
        ));
    }
    Ok(())
}

/// Non-empty text up to `max` characters, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> CoreResult<()> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    optional_text(field, value, max)
}

/// Text up to `max` characters (may be empty), no control characters but new lines and tabs.
pub fn optional_text(field: &str, value: &str, max: usize) -> CoreResult<()> {
    if value.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(CoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An e-mail address of plausible shape (one `@`, a dot in the domain, no spaces).
pub fn email(field: &str, value: &str) -> CoreResult<()> {
    let bad = || CoreError::invalid(field, format!("`{}` is not an e-mail address", clip(value)));
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(())
}

/// An ISO 3166-1 alpha-2 code, upper case (e.g. `DE`).
pub fn country(field: &str, value: &str) -> CoreResult<()> {
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(CoreError::invalid(
            field,
            format!(
                "`{}` must be an ISO 3166-1 alpha-2 code in capitals, e.g. `DE`",
                clip(value)
            ),
        ));
    }
    Ok(())
}

/// A password for the web UI: 12..=256 characters.
pub fn password(field: &str, value: &str) -> CoreResult<()> {
    let n = value.chars().count();
    if !(12..=256).contains(&n) {
        return Err(CoreError::invalid(
            field,
            "must be 12 to 256 characters long",
        ));
    }
    Ok(())
}

/// Echo at most 64 characters of user input in messages.
pub fn clip(value: &str) -> String {
    let mut out: String = value.chars().take(64).collect();
    if value.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(slug("s", "energy-isac").is_ok());
        for bad in ["", "a", "-x", "x-", "Caps", "with space", &"a".repeat(64)] {
            let err = slug("short_name", bad).unwrap_err().to_string();
            assert!(err.starts_with("short_name:"), "{err}");
        }
    }

    #[test]
    fn usernames() {
        assert!(username("u", "alice.smith_2").is_ok());
        assert!(username("u", ".alice").is_err());
        assert!(username("u", "Alice").is_err());
    }

    #[test]
    fn emails_and_countries() {
        assert!(email("e", "soc@example.org").is_ok());
        for bad in ["soc", "soc@", "@x.org", "a@b", "a b@c.org", "a@@b.org"] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
        assert!(country("c", "DE").is_ok());
        assert!(country("c", "de").is_err());
        assert!(country("c", "DEU").is_err());
    }

    #[test]
    fn text_limits() {
        assert!(text("n", "  ", 10).is_err());
        assert!(text("n", "abc", 2).is_err());
        assert!(text("n", "a\u{0}b", 10).is_err());
        assert!(optional_text("n", "", 10).is_ok());
    }
}
