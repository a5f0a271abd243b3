//! A session's jar: the upstream's cookies (name → value) that the filter keeps on the server side
//! instead of in the browser, and their compact encoding for the store. A rotated session's jar
//! holds no cookies, only where they went ([`Moved`]): tokens of the old session follow it there
//! for a short grace, then open nothing.

use crate::cookies::{parse_cookie_header, JarChange};
use crate::token::SessionId;
use std::collections::BTreeMap;

pub use cookieless_proto::MAX_JAR_BYTES;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jar {
    cookies: BTreeMap<String, String>,
    moved: Option<Moved>,
}

/// Where a rotated session's cookies went, and until when its tokens may follow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub to: SessionId,
    /// Unix seconds.
    pub until: u64,
}

impl Jar {
    /// Nothing to keep: no cookie and not a rotated session's forwarding.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty() && self.moved.is_none()
    }

    /// Set when the session was rotated.
    pub fn moved(&self) -> Option<Moved> {
        self.moved
    }

    /// The changes that rebuild this jar's cookies in another session.
    pub fn to_changes(&self) -> Vec<JarChange> {
        self.cookies.iter().map(|(name, value)| JarChange::Set { name: name.clone(), value: value.clone() }).collect()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Applies one change; returns whether the jar changed. A rotated session takes no more
    /// cookies: requests that still carry its tokens write to the session it moved to.
    pub fn apply(&mut self, change: JarChange) -> bool {
        if self.moved.is_some() {
            return false;
        }
        match change {
            JarChange::Set { name, value } => {
                if self.cookies.get(&name) == Some(&value) {
                    return false;
                }
                self.cookies.insert(name, value);
                true
            }
            JarChange::Delete { name } => self.cookies.remove(&name).is_some(),
            JarChange::Retire { to, until } => {
                self.cookies.clear();
                self.moved = Some(Moved { to, until });
                true
            }
        }
    }

    /// The stored jar with the response's `Set-Cookie` changes applied, and whether any changed
    /// it: the one merge both stores use (an unchanged jar need not be written again).
    pub fn merge(mut stored: Jar, changes: &[JarChange]) -> (Jar, bool) {
        let mut changed = false;
        for change in changes {
            changed |= stored.apply(change.clone());
        }
        (stored, changed)
    }

    /// The `Cookie` header the upstream gets: the jar, plus `browser` cookies it does not shadow
    /// (only when the browser's own cookies are kept).
    pub fn cookie_header(&self, browser: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> =
            self.cookies.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if let Some(header) = browser {
            pairs.extend(parse_cookie_header(header).filter(|(n, _)| !self.cookies.contains_key(*n)));
        }
        let mut header = String::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len() + 3).sum());
        for (name, value) in pairs {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        header
    }

    /// One `name=value` per line: cookie names and values cannot contain a newline. A rotated
    /// session is one line `=<new session id>,<until>` (no cookie has an empty name).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(moved) = self.moved {
            out.extend_from_slice(format!("={},{}\n", moved.to.to_hex(), moved.until).as_bytes());
        }
        for (name, value) in &self.cookies {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// The inverse of `encode`; `None` when the bytes are not a jar.
    pub fn decode(bytes: &[u8]) -> Option<Jar> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut jar = Jar::default();
        for line in text.lines() {
            match line.split_once('=')? {
                ("", moved) => jar.moved = Some(decode_moved(moved)?),
                (name, value) => {
                    jar.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        Some(jar)
    }

    /// Whether the jar is small enough to keep.
    pub fn fits(&self) -> bool {
        self.cookies.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>() <= MAX_JAR_BYTES
    }
}

fn decode_moved(text: &str) -> Option<Moved> {
    let (to, until) = text.split_once(',')?;
    Some(Moved { to: SessionId::from_hex(to)?, until: until.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, value: &str) -> JarChange {
        JarChange::Set { name: name.into(), value: value.into() }
    }

    #[test]
    fn set_replace_delete() {
        let mut jar = Jar::default();
        assert!(jar.is_empty());
        assert!(jar.apply(set("sessionid", "a")));
        assert!(!jar.apply(set("sessionid", "a")), "same value is no change");
        assert!(jar.apply(set("sessionid", "b")));
        assert_eq!(jar.get("sessionid"), Some("b"));
        assert!(jar.apply(JarChange::Delete { name: "sessionid".into() }));
        assert!(!jar.apply(JarChange::Delete { name: "sessionid".into() }));
        assert!(jar.is_empty());
    }

    #[test]
    fn merge_applies_changes_in_order_and_says_whether_anything_changed() {
        let mut stored = Jar::default();
        stored.apply(set("a", "1"));
        let (same, changed) = Jar::merge(stored.clone(), &[set("a", "1")]);
        assert_eq!((same, changed), (stored.clone(), false));
        let (jar, changed) = Jar::merge(stored, &[set("b", "2"), JarChange::Delete { name: "a".into() }, set("b", "3")]);
        assert!(changed);
        assert_eq!((jar.get("a"), jar.get("b")), (None, Some("3")));
        let (empty, changed) = Jar::merge(Jar::default(), &[JarChange::Delete { name: "x".into() }]);
        assert!(empty.is_empty() && !changed);
    }

    #[test]
    fn cookie_header_from_jar_and_browser() {
        let mut jar = Jar::default();
        jar.apply(set("sessionid", "s1"));
        jar.apply(set("csrftoken", "c1"));
        assert_eq!(jar.cookie_header(None), "csrftoken=c1; sessionid=s1");
        assert_eq!(
            jar.cookie_header(Some("sessionid=evil; theme=dark")),
            "csrftoken=c1; sessionid=s1; theme=dark"
        );
    }

    #[test]
    fn encoding_round_trips() {
        let mut jar = Jar::default();
        jar.apply(set("a", "1=2"));
        jar.apply(set("b", ""));
        assert_eq!(Jar::decode(&jar.encode()), Some(jar));
        assert_eq!(Jar::decode(b""), Some(Jar::default()));
        assert_eq!(Jar::decode(b"no-equals\n"), None);
        assert_eq!(Jar::decode(&[0xff, 0xfe]), None);
    }

    #[test]
    fn a_retired_jar_forwards_keeps_nothing_and_round_trips() {
        let mut jar = Jar::default();
        jar.apply(set("PHPSESSID", "old"));
        let to = SessionId([7; 16]);
        assert_eq!(jar.to_changes(), vec![set("PHPSESSID", "old")]);
        assert!(jar.apply(JarChange::Retire { to, until: 99 }));
        assert_eq!(jar.moved(), Some(Moved { to, until: 99 }));
        assert!(!jar.is_empty() && jar.get("PHPSESSID").is_none());
        assert!(!jar.apply(set("PHPSESSID", "new")), "a retired session takes no cookie");
        assert_eq!(Jar::decode(&jar.encode()), Some(jar));
        assert_eq!(Jar::decode(b"=zz,1\n"), None);
        assert_eq!(SessionId::from_hex(&to.to_hex()), Some(to));
        assert_eq!(SessionId::from_hex(&to.to_hex().to_ascii_uppercase().replace('0', "A")), None);
    }

    #[test]
    fn oversized_jars_do_not_fit() {
        let mut jar = Jar::default();
        jar.apply(set("big", &"x".repeat(MAX_JAR_BYTES)));
        assert!(!jar.fits());
    }
}
