//! Which requests are cookieless: `routes.include` / `routes.exclude` matchers on the path (without
//! the query) and, optionally, the host.

use crate::url::{path_without_query, strip_port};
use regex_lite::Regex;

/// One route matcher: a path rule and an optional host (exact, case-insensitive, port ignored).
#[derive(Debug)]
pub struct Matcher {
    path: PathRule,
    host: Option<String>,
}

#[derive(Debug)]
enum PathRule {
    Prefix(String),
    Exact(String),
    /// Matches the whole path, as Envoy's route regexes do.
    Regex(Regex),
}

impl Matcher {
    pub fn prefix(prefix: String, host: Option<String>) -> Matcher {
        Matcher { path: PathRule::Prefix(prefix), host: host.map(|h| strip_port(&h).to_string()) }
    }

    pub fn exact(path: String, host: Option<String>) -> Matcher {
        Matcher { path: PathRule::Exact(path), host: host.map(|h| strip_port(&h).to_string()) }
    }

    /// Paths are ASCII (percent-encoded), and so are regex-lite's `\d`, `\w` and `\s`; Unicode
    /// classes (`\p{..}`) are refused.
    pub fn regex(pattern: &str, host: Option<String>) -> Result<Matcher, regex_lite::Error> {
        let whole = Regex::new(&format!("^(?:{pattern})$"))?;
        Ok(Matcher { path: PathRule::Regex(whole), host: host.map(|h| strip_port(&h).to_string()) })
    }

    fn matches(&self, path: &str, host: &str) -> bool {
        self.host_matches(host)
            && match &self.path {
                PathRule::Prefix(p) => path.starts_with(p.as_str()),
                PathRule::Exact(p) => path == p,
                PathRule::Regex(r) => r.is_match(path),
            }
    }

    fn host_matches(&self, host: &str) -> bool {
        self.host.as_deref().is_none_or(|want| want.eq_ignore_ascii_case(strip_port(host)))
    }
}

/// The include and exclude lists.
#[derive(Debug)]
pub struct Routes {
    include: Vec<Matcher>,
    exclude: Vec<Matcher>,
}

impl Routes {
    pub fn new(include: Vec<Matcher>, exclude: Vec<Matcher>) -> Routes {
        Routes { include, exclude }
    }

    /// `path` is the request's `:path`; the query is ignored.
    pub fn is_cookieless(&self, path: &str, host: &str) -> bool {
        let path = path_without_query(path);
        self.include.iter().any(|m| m.matches(path, host))
            && !self.exclude.iter().any(|m| m.matches(path, host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(include: Vec<Matcher>, exclude: Vec<Matcher>) -> Routes {
        Routes::new(include, exclude)
    }

    #[test]
    fn include_minus_exclude() {
        let r = routes(
            vec![Matcher::prefix("/".into(), None)],
            vec![Matcher::prefix("/admin".into(), None)],
        );
        assert!(r.is_cookieless("/", "a"));
        assert!(r.is_cookieless("/form?x=/admin", "a"));
        assert!(!r.is_cookieless("/admin", "a"));
        assert!(!r.is_cookieless("/admin/users?x=1", "a"));
    }

    #[test]
    fn exact_matches_the_path_without_query() {
        let r = routes(vec![Matcher::exact("/apply".into(), None)], vec![]);
        assert!(r.is_cookieless("/apply?step=2", "a"));
        assert!(!r.is_cookieless("/apply/2", "a"));
        assert!(!r.is_cookieless("/", "a"));
    }

    #[test]
    fn regex_matches_the_whole_path() {
        let r = routes(vec![Matcher::regex(r"/forms/\d+", None).unwrap()], vec![]);
        assert!(r.is_cookieless("/forms/12?a=b", "a"));
        assert!(!r.is_cookieless("/forms/12/edit", "a"));
        assert!(!r.is_cookieless("/x/forms/12", "a"));
    }

    #[test]
    fn regex_classes_and_dot_work_on_ascii_paths() {
        let r = routes(vec![Matcher::regex(r"/[a-z]+/\w+/.*", None).unwrap()], vec![]);
        assert!(r.is_cookieless("/apply/step_2/%C3%A9", "a"));
        assert!(Matcher::regex(r"\p{L}", None).is_err(), "Unicode classes are refused, not ignored");
    }

    #[test]
    fn host_is_case_insensitive_and_ignores_the_port() {
        let r = routes(vec![Matcher::prefix("/".into(), Some("forms.example.org".into()))], vec![]);
        assert!(r.is_cookieless("/", "Forms.Example.ORG:10000"));
        assert!(r.is_cookieless("/", "forms.example.org"));
        assert!(!r.is_cookieless("/", "www.example.org"));
    }

    #[test]
    fn nothing_included_means_nothing_is_cookieless() {
        assert!(!routes(vec![], vec![]).is_cookieless("/", "a"));
    }

    #[test]
    fn the_host_matches_whatever_the_port() {
        let r = routes(vec![Matcher::exact("/".into(), Some("A.example:8080".into()))], vec![]);
        assert!(r.is_cookieless("/", "a.example:10000"));
        assert!(r.is_cookieless("/", "a.example"));
        assert!(!r.is_cookieless("/", "b.example"));
    }
}
