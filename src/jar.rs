//! A session's jar: the upstream's cookies (name → value) that the filter keeps on the server side
//! instead of in the browser, and their compact encoding for the store.

use crate::cookies::{parse_cookie_header, JarChange};
use std::collections::BTreeMap;

pub use cookieless_proto::MAX_JAR_BYTES;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jar {
    cookies: BTreeMap<String, String>,
}

impl Jar {
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Applies one change; returns whether the jar changed.
    pub fn apply(&mut self, change: JarChange) -> bool {
        match change {
            JarChange::Set { name, value } => {
                if self.cookies.get(&name) == Some(&value) {
                    return false;
                }
                self.cookies.insert(name, value);
                true
            }
            JarChange::Delete { name } => self.cookies.remove(&name).is_some(),
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

    /// One `name=value` per line: cookie names and values cannot contain a newline.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
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
        let mut cookies = BTreeMap::new();
        for line in text.lines() {
            let (name, value) = line.split_once('=')?;
            cookies.insert(name.to_string(), value.to_string());
        }
        Some(Jar { cookies })
    }

    /// Whether the jar is small enough to keep.
    pub fn fits(&self) -> bool {
        self.cookies.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>() <= MAX_JAR_BYTES
    }
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
    fn oversized_jars_do_not_fit() {
        let mut jar = Jar::default();
        jar.apply(set("big", &"x".repeat(MAX_JAR_BYTES)));
        assert!(!jar.fits());
    }
}
