//! The filter's configuration: the public JSON contract (see the README's reference table), parsed
//! strictly and validated into typed settings once, at `on_configure`.
//!
//! Unknown fields are errors, because a typo must not silently turn off a security option. Every
//! error names the field it is about, so one log line tells the operator what to fix.

use crate::routes::{Matcher, Routes};
use std::sync::Arc;
use crate::token::Key;
use base64::Engine;
use serde::Deserialize;
use std::fmt;

/// Settings of one filter instance, validated.
#[derive(Debug)]
pub struct Config {
    pub param: String,
    /// Shared with the rewriter of every response (links to other routes get no token).
    pub routes: Arc<Routes>,
    pub keys: Vec<Key>,
    pub token: TokenPolicy,
    pub transport: Transport,
    pub rewrite: Rewrite,
    pub allowed_hosts: Vec<String>,
    pub require_referer: bool,
    /// The `Sec-Fetch-Site` values a token is accepted with.
    pub accepted_fetch_sites: Vec<FetchSite>,
    pub rotation: Rotation,
    pub cookies: CookiePolicy,
    pub store: Store,
    pub upstream_header: Option<String>,
    pub response_headers: ResponseHeaders,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Site,
    Path,
}

/// A `Sec-Fetch-Site` value: how the browser says the request's initiator relates to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchSite {
    SameOrigin,
    /// Another origin of the same site; accepted only from a host of `allowed_hosts`.
    SameSite,
    CrossSite,
    /// Typed into the address bar, a bookmark, or opened from another application.
    None,
}

impl FetchSite {
    /// The header's value, as browsers write it; `None` for any other value.
    pub fn from_header(value: &str) -> Option<FetchSite> {
        match value.trim().to_ascii_lowercase().as_str() {
            "same-origin" => Some(FetchSite::SameOrigin),
            "same-site" => Some(FetchSite::SameSite),
            "cross-site" => Some(FetchSite::CrossSite),
            "none" => Some(FetchSite::None),
            _ => None,
        }
    }
}

fn default_fetch_sites() -> Vec<FetchSite> {
    vec![FetchSite::SameOrigin, FetchSite::SameSite, FetchSite::None]
}

/// When the jar moves to a new session id: when the app gives its session a new identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Cookies that hold a server-side session id: a new value, or their deletion, rotates.
    pub session_cookies: Vec<String>,
    /// A response header by which the app asks for a rotation; stripped before the browser.
    pub header: Option<String>,
    /// How long a token issued before a rotation still opens the session (requests in flight).
    pub grace_seconds: u64,
}

/// The session-id cookies of common frameworks that keep their sessions on the server: PHP,
/// Java servlets, ASP.NET, Express (express-session), Django (database backend). Frameworks
/// that keep the session inside the cookie (Flask, Rails, Laravel) rewrite it on every change,
/// and are not listed: rotating on every write would break older pages' links.
pub const DEFAULT_SESSION_COOKIES: [&str; 5] = ["PHPSESSID", "JSESSIONID", "ASP.NET_SessionId", "connect.sid", "sessionid"];
pub const DEFAULT_ROTATION_GRACE_SECONDS: u64 = 5;
/// The longest grace: a token from before a rotation must stop opening the session soon.
const MAX_ROTATION_GRACE_SECONDS: u64 = 60;

#[derive(Debug)]
pub struct TokenPolicy {
    pub ttl_seconds: u64,
    pub bind_client_ip: bool,
    pub bind_user_agent: bool,
    pub scope: Scope,
}

#[derive(Debug)]
pub struct Transport {
    pub query: bool,
    pub form: bool,
    /// Lower-cased header name; `None` when disabled.
    pub header: Option<String>,
}

/// What the response rewriting does. `links` and `redirects` are already combined with
/// `transport.query`, and `forms` with `transport.form`: a token is never written where it would
/// not be accepted back.
#[derive(Debug)]
pub struct Rewrite {
    pub links: bool,
    pub forms: bool,
    pub redirects: bool,
    pub content_types: Vec<String>,
    /// `None` when disabled.
    pub placeholder: Option<String>,
}

#[derive(Debug)]
pub struct CookiePolicy {
    pub strip_request: bool,
    pub clear_browser: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    SharedData {
        max_sessions: u32,
        idle_timeout_seconds: u32,
    },
    Grpc {
        cluster: String,
        timeout_ms: u32,
        on_error: OnError,
        idle_timeout_seconds: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    FailOpen,
    FailClosed,
}

#[derive(Debug)]
pub struct ResponseHeaders {
    pub referrer_policy: Option<String>,
    pub cache_control: Option<String>,
    /// Added (never replacing the app's own, whose restrictions it only adds to): keeps a
    /// `<base>` or a form of another site from taking the page's token elsewhere.
    pub content_security_policy: Option<String>,
}

/// A configuration problem, naming the field (as a JSON path) it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "cookieless: invalid configuration: {}", self.problem)
        } else {
            write!(f, "cookieless: invalid configuration: field `{}`: {}", self.field, self.problem)
        }
    }
}

fn error(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), problem: problem.into() }
}

pub const DEFAULT_PARAM: &str = "sessionid";
/// Secrets are read through this, so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Parses and validates the plugin configuration.
    pub fn parse(json: &[u8], env: EnvLookup) -> Result<Config, ConfigError> {
        let raw = parse_raw(json)?;
        raw.validate(env)
    }
}

fn parse_raw(json: &[u8]) -> Result<RawConfig, ConfigError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Err(error("", "the configuration is empty; at least `keys` is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        error(field, strip_position(&e.inner().to_string()))
    })
}

/// serde_json appends "at line 1 column 7"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message.contains("column") => message.get(..i).unwrap_or(message).to_string(),
        _ => message.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_param")]
    param: String,
    #[serde(default)]
    routes: RawRoutes,
    keys: Vec<RawKey>,
    #[serde(default)]
    token: RawToken,
    #[serde(default)]
    transport: RawTransport,
    #[serde(default)]
    rewrite: RawRewrite,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    require_referer: bool,
    #[serde(default = "default_fetch_sites")]
    accepted_fetch_sites: Vec<FetchSite>,
    #[serde(default)]
    rotation: RawRotation,
    #[serde(default)]
    cookies: RawCookies,
    #[serde(default)]
    store: RawStore,
    #[serde(default = "default_upstream_header")]
    upstream_header: String,
    #[serde(default)]
    response_headers: RawResponseHeaders,
}

fn default_param() -> String {
    DEFAULT_PARAM.to_string()
}
fn default_upstream_header() -> String {
    "x-cookieless-session".to_string()
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoutes {
    #[serde(default = "default_include")]
    include: Vec<RawMatcher>,
    #[serde(default = "default_exclude")]
    exclude: Vec<RawMatcher>,
}

impl Default for RawRoutes {
    fn default() -> Self {
        RawRoutes { include: default_include(), exclude: default_exclude() }
    }
}

fn prefix_matcher(prefix: &str) -> RawMatcher {
    RawMatcher { prefix: Some(prefix.to_string()), exact: None, regex: None, host: None }
}
fn default_include() -> Vec<RawMatcher> {
    vec![prefix_matcher("/")]
}
fn default_exclude() -> Vec<RawMatcher> {
    vec![prefix_matcher("/admin")]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatcher {
    prefix: Option<String>,
    exact: Option<String>,
    regex: Option<String>,
    host: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: String,
    secret: Option<String>,
    secret_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    #[serde(default = "default_ttl")]
    ttl_seconds: u64,
    #[serde(default = "yes")]
    bind_client_ip: bool,
    #[serde(default = "yes")]
    bind_user_agent: bool,
    #[serde(default = "default_scope")]
    scope: String,
}

fn default_ttl() -> u64 {
    86_400
}
fn default_scope() -> String {
    "site".to_string()
}

impl Default for RawToken {
    fn default() -> Self {
        RawToken {
            ttl_seconds: default_ttl(),
            bind_client_ip: true,
            bind_user_agent: true,
            scope: default_scope(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    #[serde(default = "yes")]
    query: bool,
    #[serde(default = "yes")]
    form: bool,
    #[serde(default = "default_token_header")]
    header: String,
}

fn default_token_header() -> String {
    "x-cookieless-token".to_string()
}

impl Default for RawTransport {
    fn default() -> Self {
        RawTransport { query: true, form: true, header: default_token_header() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRewrite {
    #[serde(default = "yes")]
    links: bool,
    #[serde(default = "yes")]
    forms: bool,
    #[serde(default = "yes")]
    redirects: bool,
    #[serde(default = "default_content_types")]
    content_types: Vec<String>,
    #[serde(default = "default_placeholder")]
    placeholder: String,
}

fn default_content_types() -> Vec<String> {
    vec!["text/html".to_string(), "application/xhtml+xml".to_string()]
}
fn default_placeholder() -> String {
    "__COOKIELESS_TOKEN__".to_string()
}

impl Default for RawRewrite {
    fn default() -> Self {
        RawRewrite {
            links: true,
            forms: true,
            redirects: true,
            content_types: default_content_types(),
            placeholder: default_placeholder(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCookies {
    #[serde(default = "yes")]
    strip_request: bool,
    #[serde(default)]
    clear_browser: bool,
}

impl Default for RawCookies {
    fn default() -> Self {
        RawCookies { strip_request: true, clear_browser: false }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRotation {
    #[serde(default = "default_session_cookies")]
    session_cookies: Vec<String>,
    #[serde(default = "default_rotation_header")]
    header: String,
    #[serde(default = "default_rotation_grace")]
    grace_seconds: u64,
}

fn default_session_cookies() -> Vec<String> {
    DEFAULT_SESSION_COOKIES.iter().map(|c| c.to_string()).collect()
}
fn default_rotation_header() -> String {
    "x-cookieless-rotate".to_string()
}
fn default_rotation_grace() -> u64 {
    DEFAULT_ROTATION_GRACE_SECONDS
}

impl Default for RawRotation {
    fn default() -> Self {
        RawRotation {
            session_cookies: default_session_cookies(),
            header: default_rotation_header(),
            grace_seconds: default_rotation_grace(),
        }
    }
}

fn validate_rotation(raw: RawRotation) -> Result<Rotation, ConfigError> {
    for (i, name) in raw.session_cookies.iter().enumerate() {
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(error(format!("rotation.session_cookies[{i}]"), format!("{name:?} is not a cookie name")));
        }
    }
    if raw.grace_seconds > MAX_ROTATION_GRACE_SECONDS {
        return Err(error(
            "rotation.grace_seconds",
            format!("{} is more than {MAX_ROTATION_GRACE_SECONDS}: old tokens must stop opening the session soon", raw.grace_seconds),
        ));
    }
    Ok(Rotation {
        session_cookies: raw.session_cookies,
        header: optional_header_name("rotation.header", raw.header)?.map(|h| h.to_ascii_lowercase()),
        grace_seconds: raw.grace_seconds,
    })
}

/// Flat on purpose: fields that do not belong to the chosen `kind` get their own clear error.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    kind: Option<String>,
    max_sessions: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    cluster: Option<String>,
    timeout_ms: Option<u64>,
    on_error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponseHeaders {
    #[serde(default = "default_referrer_policy")]
    referrer_policy: String,
    #[serde(default = "default_cache_control")]
    cache_control: String,
    /// Absent: `base-uri 'self'; form-action 'self'` and the allowed hosts.
    #[serde(default)]
    content_security_policy: Option<String>,
}

fn default_referrer_policy() -> String {
    "same-origin".to_string()
}
fn default_cache_control() -> String {
    "private, no-store".to_string()
}

impl Default for RawResponseHeaders {
    fn default() -> Self {
        RawResponseHeaders {
            referrer_policy: default_referrer_policy(),
            cache_control: default_cache_control(),
            content_security_policy: None,
        }
    }
}

pub const DEFAULT_MAX_SESSIONS: u32 = 100_000;
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u32 = 1800;
pub const DEFAULT_GRPC_TIMEOUT_MS: u32 = 500;
/// Shared data holds every jar in Envoy's memory; past this a typo (an extra zero) would let it
/// grow to gigabytes.
const MAX_MAX_SESSIONS: u64 = 10_000_000;
const MAX_PLACEHOLDER_LEN: usize = 256;

impl RawConfig {
    fn validate(self, env: EnvLookup) -> Result<Config, ConfigError> {
        let transport = validate_transport(self.transport)?;
        let allowed_hosts = validate_hosts(self.allowed_hosts)?;
        let csp = self
            .response_headers
            .content_security_policy
            .unwrap_or_else(|| default_content_security_policy(&allowed_hosts));
        Ok(Config {
            param: validate_param(self.param)?,
            routes: Arc::new(validate_routes(self.routes)?),
            keys: validate_keys(self.keys, env)?,
            token: validate_token(self.token)?,
            rewrite: validate_rewrite(self.rewrite, &transport)?,
            transport,
            allowed_hosts,
            require_referer: self.require_referer,
            accepted_fetch_sites: self.accepted_fetch_sites,
            rotation: validate_rotation(self.rotation)?,
            cookies: CookiePolicy {
                strip_request: self.cookies.strip_request,
                clear_browser: self.cookies.clear_browser,
            },
            store: validate_store(self.store)?,
            upstream_header: optional_header_name("upstream_header", self.upstream_header)?,
            response_headers: ResponseHeaders {
                referrer_policy: optional_header_value(
                    "response_headers.referrer_policy",
                    self.response_headers.referrer_policy,
                )?,
                cache_control: optional_header_value(
                    "response_headers.cache_control",
                    self.response_headers.cache_control,
                )?,
                content_security_policy: optional_header_value(
                    "response_headers.content_security_policy",
                    csp,
                )?,
            },
        })
    }
}

fn validate_param(param: String) -> Result<String, ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~');
    if param.is_empty() || param.len() > 64 || !param.chars().all(ok_char) {
        return Err(error(
            "param",
            format!("{param:?} must be 1 to 64 characters of [A-Za-z0-9_.~-]"),
        ));
    }
    Ok(param)
}

fn validate_routes(raw: RawRoutes) -> Result<Routes, ConfigError> {
    let include = validate_matchers("routes.include", raw.include)?;
    let exclude = validate_matchers("routes.exclude", raw.exclude)?;
    Ok(Routes::new(include, exclude))
}

fn validate_matchers(field: &str, raw: Vec<RawMatcher>) -> Result<Vec<Matcher>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, m)| validate_matcher(&format!("{field}[{i}]"), m))
        .collect()
}

fn validate_matcher(field: &str, raw: RawMatcher) -> Result<Matcher, ConfigError> {
    let host = match raw.host {
        Some(h) => Some(validate_host(&format!("{field}.host"), h)?),
        None => None,
    };
    match (raw.prefix, raw.exact, raw.regex) {
        (Some(p), None, None) => Ok(Matcher::prefix(p, host)),
        (None, Some(e), None) => Ok(Matcher::exact(e, host)),
        (None, None, Some(r)) => Matcher::regex(&r, host)
            .map_err(|e| error(format!("{field}.regex"), format!("invalid regex: {}", one_line(&e.to_string())))),
        _ => Err(error(field, "a matcher needs exactly one of `prefix`, `exact` or `regex`")),
    }
}

fn validate_keys(raw: Vec<RawKey>, env: EnvLookup) -> Result<Vec<Key>, ConfigError> {
    if raw.is_empty() {
        return Err(error("keys", "at least one key is required (the first one seals new tokens)"));
    }
    let mut keys: Vec<Key> = Vec::with_capacity(raw.len());
    for (i, k) in raw.into_iter().enumerate() {
        let key = validate_key(i, k, env)?;
        if keys.iter().any(|seen| seen.id == key.id) {
            return Err(error(format!("keys[{i}].id"), format!("duplicate key id {:?}", key.id)));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn validate_key(i: usize, raw: RawKey, env: EnvLookup) -> Result<Key, ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if raw.id.is_empty() || raw.id.len() > 16 || !raw.id.chars().all(ok_char) {
        return Err(error(
            format!("keys[{i}].id"),
            format!("{:?} must be 1 to 16 characters of [A-Za-z0-9_-]", raw.id),
        ));
    }
    let at = |f: &str| format!("keys[{i}].{f} (key id {:?})", raw.id);
    let encoded = match (raw.secret, raw.secret_env) {
        (Some(secret), None) => secret,
        (None, Some(var)) => env(&var).ok_or_else(|| {
            error(at("secret_env"), format!("the VM environment variable {var:?} is not set"))
        })?,
        _ => return Err(error(at("secret"), "give exactly one of `secret` or `secret_env`")),
    };
    let secret = decode_secret(encoded.trim()).map_err(|problem| error(at("secret"), problem))?;
    Ok(Key { id: raw.id, secret })
}

/// Standard or url-safe base64, padded or not, of exactly 32 bytes. The problem never quotes the
/// secret itself: it ends up in logs.
fn decode_secret(encoded: &str) -> Result<[u8; 32], String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let lenient = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, lenient);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient);
    let bytes = standard
        .decode(encoded)
        .or_else(|_| url_safe.decode(encoded))
        .map_err(|_| "is not valid base64 (standard or url-safe)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!("must decode to exactly 32 bytes, got {} (make key prints a new one)", bytes.len())
    })
}

fn validate_token(raw: RawToken) -> Result<TokenPolicy, ConfigError> {
    if raw.ttl_seconds == 0 {
        return Err(error("token.ttl_seconds", "must be at least 1"));
    }
    let scope = match raw.scope.as_str() {
        "site" => Scope::Site,
        "path" => Scope::Path,
        other => {
            return Err(error("token.scope", format!("{other:?} is not one of \"site\", \"path\"")))
        }
    };
    Ok(TokenPolicy {
        ttl_seconds: raw.ttl_seconds,
        bind_client_ip: raw.bind_client_ip,
        bind_user_agent: raw.bind_user_agent,
        scope,
    })
}

fn validate_transport(raw: RawTransport) -> Result<Transport, ConfigError> {
    Ok(Transport {
        query: raw.query,
        form: raw.form,
        header: optional_header_name("transport.header", raw.header)?,
    })
}

fn validate_rewrite(raw: RawRewrite, transport: &Transport) -> Result<Rewrite, ConfigError> {
    if raw.content_types.is_empty() {
        return Err(error("rewrite.content_types", "must list at least one media type"));
    }
    let content_types = raw
        .content_types
        .into_iter()
        .enumerate()
        .map(|(i, t)| validate_media_type(&format!("rewrite.content_types[{i}]"), t))
        .collect::<Result<Vec<_>, _>>()?;
    if raw.placeholder.len() > MAX_PLACEHOLDER_LEN {
        return Err(error(
            "rewrite.placeholder",
            format!("must be at most {MAX_PLACEHOLDER_LEN} bytes"),
        ));
    }
    Ok(Rewrite {
        links: raw.links && transport.query,
        forms: raw.forms && transport.form,
        redirects: raw.redirects && transport.query,
        content_types,
        placeholder: Some(raw.placeholder).filter(|p| !p.is_empty()),
    })
}

fn validate_media_type(field: &str, raw: String) -> Result<String, ConfigError> {
    let t = raw.trim().to_ascii_lowercase();
    let valid = t.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && (a.chars().chain(b.chars())).all(is_token_char)
    });
    if !valid {
        return Err(error(field, format!("{raw:?} is not a media type like \"text/html\"")));
    }
    Ok(t)
}

fn validate_hosts(raw: Vec<String>) -> Result<Vec<String>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, h)| validate_host(&format!("allowed_hosts[{i}]"), h))
        .collect()
}

/// A host name or `host:port`, lower-cased.
fn validate_host(field: &str, raw: String) -> Result<String, ConfigError> {
    let host = raw.trim().to_ascii_lowercase();
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_');
    if host.is_empty() || host.len() > 255 || !host.chars().all(ok_char) {
        return Err(error(field, format!("{raw:?} is not a host name (host or host:port)")));
    }
    Ok(host)
}

fn validate_store(raw: RawStore) -> Result<Store, ConfigError> {
    let kind = raw.kind.clone().unwrap_or_else(|| "shared_data".to_string());
    match kind.as_str() {
        "shared_data" => shared_data_store(raw),
        "grpc" => grpc_store(raw),
        other => Err(error(
            "store.kind",
            format!("{other:?} is not one of \"shared_data\", \"grpc\""),
        )),
    }
}

fn shared_data_store(raw: RawStore) -> Result<Store, ConfigError> {
    reject_present("store.cluster", raw.cluster.is_some(), "shared_data")?;
    reject_present("store.timeout_ms", raw.timeout_ms.is_some(), "shared_data")?;
    reject_present("store.on_error", raw.on_error.is_some(), "shared_data")?;
    let max_sessions = raw.max_sessions.unwrap_or(u64::from(DEFAULT_MAX_SESSIONS));
    if max_sessions == 0 || max_sessions > MAX_MAX_SESSIONS {
        return Err(error("store.max_sessions", format!("must be 1 to {MAX_MAX_SESSIONS}")));
    }
    Ok(Store::SharedData {
        max_sessions: bounded_u32("store.max_sessions", max_sessions)?,
        idle_timeout_seconds: idle_timeout(raw.idle_timeout_seconds)?,
    })
}

fn grpc_store(raw: RawStore) -> Result<Store, ConfigError> {
    reject_present("store.max_sessions", raw.max_sessions.is_some(), "grpc")?;
    let cluster = raw.cluster.unwrap_or_default();
    if cluster.trim().is_empty() {
        return Err(error("store.cluster", "required for kind \"grpc\": the Envoy cluster of the session service"));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(u64::from(DEFAULT_GRPC_TIMEOUT_MS));
    if timeout_ms == 0 || timeout_ms > 60_000 {
        return Err(error("store.timeout_ms", "must be 1 to 60000"));
    }
    let on_error = match raw.on_error.as_deref().unwrap_or("fail_open") {
        "fail_open" => OnError::FailOpen,
        "fail_closed" => OnError::FailClosed,
        other => {
            return Err(error(
                "store.on_error",
                format!("{other:?} is not one of \"fail_open\", \"fail_closed\""),
            ))
        }
    };
    Ok(Store::Grpc {
        cluster,
        timeout_ms: bounded_u32("store.timeout_ms", timeout_ms)?,
        on_error,
        idle_timeout_seconds: idle_timeout(raw.idle_timeout_seconds)?,
    })
}

fn reject_present(field: &str, present: bool, kind: &str) -> Result<(), ConfigError> {
    if present {
        return Err(error(field, format!("does not apply to store kind {kind:?}")));
    }
    Ok(())
}

fn idle_timeout(raw: Option<u64>) -> Result<u32, ConfigError> {
    let seconds = raw.unwrap_or(u64::from(DEFAULT_IDLE_TIMEOUT_SECONDS));
    if seconds == 0 {
        return Err(error("store.idle_timeout_seconds", "must be at least 1"));
    }
    bounded_u32("store.idle_timeout_seconds", seconds)
}

fn bounded_u32(field: &str, value: u64) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| error(field, "is too large"))
}

/// Envoy logs one line per message: multi-line errors (regex's, with a caret diagram) are folded.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 9110 token characters: what a header name or media type may contain.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn optional_header_name(field: &str, raw: String) -> Result<Option<String>, ConfigError> {
    if raw.is_empty() {
        return Ok(None);
    }
    if !raw.chars().all(is_token_char) {
        return Err(error(field, format!("{raw:?} is not a valid header name (\"\" disables)")));
    }
    Ok(Some(raw.to_ascii_lowercase()))
}

/// Relative URLs resolve only against this site, and forms post only to it (and to the allowed
/// hosts): what the rewriter assumes, enforced by the browser even where markup was injected.
fn default_content_security_policy(allowed_hosts: &[String]) -> String {
    let mut policy = "base-uri 'self'; form-action 'self'".to_string();
    for host in allowed_hosts {
        policy.push(' ');
        policy.push_str(host);
    }
    policy
}

fn optional_header_value(field: &str, raw: String) -> Result<Option<String>, ConfigError> {
    if raw.chars().any(|c| c.is_ascii_control()) {
        return Err(error(field, "must not contain control characters"));
    }
    Ok(Some(raw).filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(json: &str) -> Result<Config, ConfigError> {
        Config::parse(json.as_bytes(), &no_env)
    }

    fn minimal() -> String {
        format!(r#"{{"keys": [{{"id": "k1", "secret": "{KEY}"}}]}}"#)
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"keys": [{{"id": "k1", "secret": "{KEY}"}}], {extra}}}"#)
    }

    fn field_of(json: &str) -> String {
        parse(json).unwrap_err().field
    }

    #[test]
    fn only_keys_is_required_and_defaults_follow_the_contract() {
        let c = parse(&minimal()).unwrap();
        assert_eq!(c.param, "sessionid");
        assert_eq!(c.keys[0].id, "k1");
        assert_eq!(c.keys[0].secret[31], 31);
        assert_eq!(c.token.ttl_seconds, 86_400);
        assert!(c.token.bind_client_ip && c.token.bind_user_agent);
        assert_eq!(c.token.scope, Scope::Site);
        assert!(c.transport.query && c.transport.form);
        assert_eq!(c.transport.header.as_deref(), Some("x-cookieless-token"));
        assert!(c.rewrite.links && c.rewrite.forms && c.rewrite.redirects);
        assert_eq!(c.rewrite.content_types, ["text/html", "application/xhtml+xml"]);
        assert_eq!(c.rewrite.placeholder.as_deref(), Some("__COOKIELESS_TOKEN__"));
        assert!(c.allowed_hosts.is_empty());
        assert!(!c.require_referer);
        assert_eq!(c.accepted_fetch_sites, [FetchSite::SameOrigin, FetchSite::SameSite, FetchSite::None]);
        assert_eq!(c.rotation.session_cookies, DEFAULT_SESSION_COOKIES);
        assert_eq!(c.rotation.header.as_deref(), Some("x-cookieless-rotate"));
        assert_eq!(c.rotation.grace_seconds, 5);
        assert!(c.cookies.strip_request && !c.cookies.clear_browser);
        assert_eq!(
            c.store,
            Store::SharedData { max_sessions: 100_000, idle_timeout_seconds: 1800 }
        );
        assert_eq!(c.upstream_header.as_deref(), Some("x-cookieless-session"));
        assert_eq!(c.response_headers.referrer_policy.as_deref(), Some("same-origin"));
        assert_eq!(c.response_headers.cache_control.as_deref(), Some("private, no-store"));
        assert!(c.routes.is_cookieless("/step1", "h"));
        assert!(!c.routes.is_cookieless("/admin/x", "h"));
    }

    #[test]
    fn the_full_contract_example_parses() {
        let env = |name: &str| (name == "COOKIELESS_OLD_KEY").then(|| KEY.replace('+', "-"));
        let json = format!(
            r#"{{
              "param": "sessionid",
              "routes": {{"include": [{{"prefix": "/"}}], "exclude": [{{"prefix": "/admin"}}]}},
              "keys": [{{"id": "k2026", "secret": "{KEY}"}}, {{"id": "k2025", "secret_env": "COOKIELESS_OLD_KEY"}}],
              "token": {{"ttl_seconds": 86400, "bind_client_ip": true, "bind_user_agent": true, "scope": "site"}},
              "transport": {{"query": true, "form": true, "header": "x-cookieless-token"}},
              "rewrite": {{"links": true, "forms": true, "redirects": true,
                           "content_types": ["text/html", "application/xhtml+xml"], "placeholder": "__COOKIELESS_TOKEN__"}},
              "allowed_hosts": [],
              "require_referer": false,
              "cookies": {{"strip_request": true, "clear_browser": false}},
              "store": {{"kind": "shared_data", "max_sessions": 100000, "idle_timeout_seconds": 1800}},
              "upstream_header": "x-cookieless-session",
              "response_headers": {{"referrer_policy": "same-origin", "cache_control": "private, no-store"}}
            }}"#
        );
        let c = Config::parse(json.as_bytes(), &env).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys[1].secret, c.keys[0].secret);
    }

    #[test]
    fn malformed_json_is_refused() {
        let e = parse("{\"keys\": [").unwrap_err();
        assert!(e.to_string().contains("invalid configuration"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("[]").is_err());
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let e = parse(&with(r#""token": {"ttl_secondz": 5}"#)).unwrap_err();
        assert_eq!(e.field, "token.ttl_secondz");
        assert!(e.problem.contains("unknown field"), "{e}");
        assert_eq!(field_of(&with(r#""paramm": "x""#)), "paramm");
        assert_eq!(field_of(&with(r#""store": {"kind": "shared_data", "max_session": 5}"#)), "store.max_session");
    }

    #[test]
    fn wrong_types_name_the_field() {
        assert_eq!(field_of(&with(r#""token": {"ttl_seconds": "soon"}"#)), "token.ttl_seconds");
        assert_eq!(field_of(&with(r#""require_referer": 1"#)), "require_referer");
        assert_eq!(field_of(&with(r#""accepted_fetch_sites": ["same-origin", "cross_site"]"#)), "accepted_fetch_sites[1]");
    }

    #[test]
    fn rotation_settings_are_checked() {
        let c = parse(&with(r#""rotation": {"session_cookies": ["SID"], "header": "", "grace_seconds": 0}"#)).unwrap();
        assert_eq!(c.rotation, Rotation { session_cookies: vec!["SID".into()], header: None, grace_seconds: 0 });
        assert_eq!(field_of(&with(r#""rotation": {"session_cookies": ["a b"]}"#)), "rotation.session_cookies[0]");
        assert_eq!(field_of(&with(r#""rotation": {"grace_seconds": 61}"#)), "rotation.grace_seconds");
        assert_eq!(field_of(&with(r#""rotation": {"header": "x y"}"#)), "rotation.header");
        assert_eq!(field_of(&with(r#""rotation": {"grace": 1}"#)), "rotation.grace");
    }

    #[test]
    fn accepted_fetch_sites_are_the_header_values() {
        let c = parse(&with(r#""accepted_fetch_sites": ["same-origin", "cross-site"]"#)).unwrap();
        assert_eq!(c.accepted_fetch_sites, [FetchSite::SameOrigin, FetchSite::CrossSite]);
        assert_eq!(FetchSite::from_header(" Same-Site"), Some(FetchSite::SameSite));
        assert_eq!(FetchSite::from_header("none"), Some(FetchSite::None));
        assert_eq!(FetchSite::from_header("same_origin"), None);
    }

    #[test]
    fn bad_keys_are_refused_naming_the_key() {
        let short = parse(r#"{"keys": [{"id": "k1", "secret": "AAEC"}]}"#).unwrap_err();
        assert!(short.field.starts_with("keys[0].secret") && short.field.contains("k1"), "{short}");
        assert!(short.problem.contains("32 bytes"));
        let long = format!(r#"{{"keys": [{{"id": "k1", "secret": "{KEY}{KEY}"}}]}}"#);
        assert!(parse(&long).is_err());
        let not_b64 = parse(r#"{"keys": [{"id": "k1", "secret": "!!not base64!!"}]}"#).unwrap_err();
        assert!(not_b64.problem.contains("base64"), "{not_b64}");
        let missing = parse(r#"{"keys": [{"id": "k1", "secret_env": "NOPE"}]}"#).unwrap_err();
        assert!(missing.problem.contains("NOPE"), "{missing}");
        let neither = parse(r#"{"keys": [{"id": "k1"}]}"#).unwrap_err();
        assert!(neither.field.contains("k1"));
        assert_eq!(field_of(r#"{"keys": []}"#), "keys");
        assert!(parse("{}").unwrap_err().problem.contains("keys"));
        assert_eq!(field_of(&format!(r#"{{"keys": [{{"id": "", "secret": "{KEY}"}}]}}"#)), "keys[0].id");
        assert_eq!(
            field_of(&format!(r#"{{"keys": [{{"id": "much-too-long-key-id", "secret": "{KEY}"}}]}}"#)),
            "keys[0].id"
        );
    }

    #[test]
    fn key_errors_never_quote_the_secret() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ";
        let e = parse(&format!(r#"{{"keys": [{{"id": "k1", "secret": "{secret}"}}]}}"#)).unwrap_err();
        assert!(!e.to_string().contains(secret));
    }

    #[test]
    fn duplicate_key_ids_are_refused() {
        let json = format!(
            r#"{{"keys": [{{"id": "a", "secret": "{KEY}"}}, {{"id": "a", "secret": "{KEY}"}}]}}"#
        );
        let e = parse(&json).unwrap_err();
        assert_eq!(e.field, "keys[1].id");
        assert!(e.problem.contains("duplicate"));
    }

    #[test]
    fn url_safe_unpadded_secrets_are_accepted() {
        let url_safe = "_-8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0";
        let c = parse(&format!(r#"{{"keys": [{{"id": "k", "secret": "{url_safe}"}}]}}"#)).unwrap();
        assert_eq!(&c.keys[0].secret[..3], &[0xff, 0xef, 0x00]);
    }

    #[test]
    fn bad_regex_is_refused() {
        let e = parse(&with(r#""routes": {"include": [{"regex": "/(unclosed"}]}"#)).unwrap_err();
        assert_eq!(e.field, "routes.include[0].regex");
        assert!(!e.to_string().contains('\n'), "one log line: {e}");
    }

    #[test]
    fn a_matcher_needs_exactly_one_kind() {
        let e = parse(&with(r#""routes": {"include": [{"prefix": "/", "exact": "/"}]}"#)).unwrap_err();
        assert_eq!(e.field, "routes.include[0]");
        assert_eq!(field_of(&with(r#""routes": {"exclude": [{"host": "a"}]}"#)), "routes.exclude[0]");
    }

    #[test]
    fn store_kind_and_bounds_are_checked() {
        assert_eq!(field_of(&with(r#""store": {"kind": "memcached"}"#)), "store.kind");
        assert_eq!(field_of(&with(r#""store": {"max_sessions": 0}"#)), "store.max_sessions");
        assert_eq!(field_of(&with(r#""store": {"idle_timeout_seconds": 0}"#)), "store.idle_timeout_seconds");
        assert_eq!(field_of(&with(r#""store": {"kind": "grpc"}"#)), "store.cluster");
        assert_eq!(
            field_of(&with(r#""store": {"kind": "grpc", "cluster": "s", "max_sessions": 5}"#)),
            "store.max_sessions"
        );
        assert_eq!(field_of(&with(r#""store": {"cluster": "s"}"#)), "store.cluster");
        assert_eq!(
            field_of(&with(r#""store": {"kind": "grpc", "cluster": "s", "on_error": "retry"}"#)),
            "store.on_error"
        );
        let c = parse(&with(r#""store": {"kind": "grpc", "cluster": "sessiond", "on_error": "fail_closed", "timeout_ms": 250}"#)).unwrap();
        assert_eq!(
            c.store,
            Store::Grpc {
                cluster: "sessiond".into(),
                timeout_ms: 250,
                on_error: OnError::FailClosed,
                idle_timeout_seconds: 1800
            }
        );
    }

    #[test]
    fn other_fields_are_validated() {
        assert_eq!(field_of(&with(r#""param": "a b""#)), "param");
        assert_eq!(field_of(&with(r#""token": {"ttl_seconds": 0}"#)), "token.ttl_seconds");
        assert_eq!(field_of(&with(r#""token": {"scope": "world"}"#)), "token.scope");
        assert_eq!(field_of(&with(r#""transport": {"header": "bad header"}"#)), "transport.header");
        assert_eq!(field_of(&with(r#""upstream_header": "a:b""#)), "upstream_header");
        assert_eq!(field_of(&with(r#""rewrite": {"content_types": []}"#)), "rewrite.content_types");
        assert_eq!(field_of(&with(r#""rewrite": {"content_types": ["html"]}"#)), "rewrite.content_types[0]");
        assert_eq!(field_of(&with(r#""allowed_hosts": ["a b"]"#)), "allowed_hosts[0]");
        assert_eq!(
            field_of(&with(r#""response_headers": {"cache_control": "a\nb"}"#)),
            "response_headers.cache_control"
        );
    }

    #[test]
    fn empty_strings_disable_optional_headers() {
        let c = parse(&with(
            r#""transport": {"header": ""}, "upstream_header": "", "rewrite": {"placeholder": ""},
               "response_headers": {"referrer_policy": "", "cache_control": ""}"#,
        ))
        .unwrap();
        assert!(c.transport.header.is_none() && c.upstream_header.is_none());
        assert!(c.rewrite.placeholder.is_none());
        assert!(c.response_headers.referrer_policy.is_none() && c.response_headers.cache_control.is_none());
    }

    #[test]
    fn the_content_security_policy_defaults_to_this_site_and_the_allowed_hosts() {
        let c = parse(&minimal()).unwrap();
        assert_eq!(c.response_headers.content_security_policy.as_deref(), Some("base-uri 'self'; form-action 'self'"));
        let c = parse(&with(r#""allowed_hosts": ["partner.example", "pay.example:8443"]"#)).unwrap();
        assert_eq!(
            c.response_headers.content_security_policy.as_deref(),
            Some("base-uri 'self'; form-action 'self' partner.example pay.example:8443")
        );
        let c = parse(&with(r#""response_headers": {"content_security_policy": "form-action 'self' https://idp.example"}"#)).unwrap();
        assert_eq!(c.response_headers.content_security_policy.as_deref(), Some("form-action 'self' https://idp.example"));
        let c = parse(&with(r#""response_headers": {"content_security_policy": ""}"#)).unwrap();
        assert!(c.response_headers.content_security_policy.is_none());
        assert_eq!(
            field_of(&with(r#""response_headers": {"content_security_policy": "a\u0000b"}"#)),
            "response_headers.content_security_policy"
        );
    }

    #[test]
    fn without_query_transport_no_token_goes_into_urls() {
        let c = parse(&with(r#""transport": {"query": false}"#)).unwrap();
        assert!(!c.rewrite.links && !c.rewrite.redirects && c.rewrite.forms);
    }

    #[test]
    fn hosts_and_header_names_are_lowercased() {
        let c = parse(&with(r#""allowed_hosts": ["WWW.Example.COM:8443"], "transport": {"header": "X-Token"}"#)).unwrap();
        assert_eq!(c.allowed_hosts, ["www.example.com:8443"]);
        assert_eq!(c.transport.header.as_deref(), Some("x-token"));
    }
}
