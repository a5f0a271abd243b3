//! Reading cookie headers: the browser's `Cookie` request header and the upstream's `Set-Cookie`
//! response headers, turned into changes of a session's jar.

use crate::token::SessionId;
use cookie::Expiration;

/// What one `Set-Cookie` header does to the jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JarChange {
    Set { name: String, value: String },
    Delete { name: String },
    /// The session was rotated: its cookies moved to the session `to`, to which tokens of this
    /// one lead until `until` (unix seconds), and then nowhere.
    Retire { to: SessionId, until: u64 },
}

/// Interprets a `Set-Cookie` value at unix time `now`. `Max-Age<=0` or an `Expires` in the past
/// deletes (RFC 6265 §5.3: Max-Age wins over Expires). `None` for a header that is not a cookie.
pub fn parse_set_cookie(header: &str, now: u64) -> Option<JarChange> {
    let parsed = cookie::Cookie::parse(header).ok()?;
    let name = parsed.name().to_string();
    if name.is_empty() {
        return None;
    }
    if is_expired(&parsed, now) {
        return Some(JarChange::Delete { name });
    }
    Some(JarChange::Set { name, value: parsed.value().to_string() })
}

fn is_expired(parsed: &cookie::Cookie<'_>, now: u64) -> bool {
    if let Some(max_age) = parsed.max_age() {
        return max_age.whole_seconds() <= 0;
    }
    match parsed.expires() {
        Some(Expiration::DateTime(at)) => at.unix_timestamp() <= i64::try_from(now).unwrap_or(i64::MAX),
        _ => false,
    }
}

/// Splits a `Cookie` request header into name/value pairs, skipping malformed pieces.
pub fn parse_cookie_header(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then_some((name, value.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000; // 2026-09

    fn set(name: &str, value: &str) -> Option<JarChange> {
        Some(JarChange::Set { name: name.into(), value: value.into() })
    }
    fn delete(name: &str) -> Option<JarChange> {
        Some(JarChange::Delete { name: name.into() })
    }

    #[test]
    fn plain_cookie_with_attributes_sets() {
        assert_eq!(
            parse_set_cookie("sessionid=abc123; Path=/; HttpOnly; SameSite=Lax", NOW),
            set("sessionid", "abc123")
        );
        assert_eq!(parse_set_cookie("csrftoken=a=b=c; Secure", NOW), set("csrftoken", "a=b=c"));
    }

    #[test]
    fn max_age_zero_or_negative_deletes() {
        assert_eq!(parse_set_cookie("sessionid=; Max-Age=0; Path=/", NOW), delete("sessionid"));
        assert_eq!(parse_set_cookie("sessionid=x; Max-Age=-1", NOW), delete("sessionid"));
        assert_eq!(parse_set_cookie("sessionid=x; Max-Age=60", NOW), set("sessionid", "x"));
    }

    #[test]
    fn past_expires_deletes_future_expires_sets() {
        assert_eq!(
            parse_set_cookie("a=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/", NOW),
            delete("a")
        );
        assert_eq!(parse_set_cookie("a=; expires=Thu, 01-Jan-1970 00:00:01 GMT", NOW), delete("a"));
        assert_eq!(parse_set_cookie("a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT", NOW), set("a", "1"));
    }

    #[test]
    fn max_age_wins_over_expires() {
        assert_eq!(
            parse_set_cookie("a=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NOW),
            set("a", "1")
        );
    }

    #[test]
    fn garbage_is_not_a_cookie() {
        assert_eq!(parse_set_cookie("", NOW), None);
        assert_eq!(parse_set_cookie("no equals sign", NOW), None);
        assert_eq!(parse_set_cookie("=value", NOW), None);
    }

    #[test]
    fn cookie_header_pairs() {
        let pairs: Vec<_> = parse_cookie_header("a=1; b=x=y;junk; =z; c=").collect();
        assert_eq!(pairs, [("a", "1"), ("b", "x=y"), ("c", "")]);
    }
}
