//! The cookieless round trip of one request and its response: the per-request decisions.
//!
//! Request: find the token (query, form body, header) and take it out, open it, check where the
//! request came from, restore the session's jar as the upstream's `Cookie` header. Response: fold
//! every `Set-Cookie` into the jar, create a session only once the jar holds something, and hand
//! the browser a freshly sealed token in the `Location`, the body and a header.
//!
//! Where the exchange is, and what it waits for, is one [`Phase`]: each variant owns what that
//! phase needs, and each callback is one `match` on it. A store may answer later (gRPC): the
//! exchange then waits in `Loading` (the request and its body held) or `Updating` (the response
//! and its body held) until `on_store_reply`. Everything goes through `Host`, so whole flows run
//! in native tests with `MockHost`.

use crate::config::{Config, ConfigError, FetchSite, OnError, Scope, Store as StoreConfig};
use crate::cookies::{parse_set_cookie, CookieContext, JarChange};
use crate::host::Host;
use crate::jar::Jar;
use crate::metrics::Metric;
use crate::origin::SameOrigin;
use crate::rewrite::{is_rewritable_content_type, RewriteOptions, Rewriter};
use crate::store::grpc::{LoadCall, UpdateCall};
use crate::store::{CallReply, Loaded, Loading, Store, StoreError, Updating};
use crate::token::{Binding, KeyRing, Rejection, SessionId};
use crate::transport::FormEncoding;
use crate::url::{
    path_without_query, push_with_query_param, reference_authority, resolved_path, split_absolute, strip_port, take_query_param,
    QuerySeparator,
};
use log::{debug, warn};
use std::sync::Arc;

/// What the filter needs for every request, built once at configure time.
pub struct Settings {
    pub config: Config,
    pub ring: KeyRing,
    pub store: Store,
    /// What a store failure means: go on without a session, or refuse with a 503.
    pub on_store_error: OnError,
}

impl Settings {
    /// Everything a shell needs from a parsed configuration: it decides nothing itself.
    pub fn from_config(config: Config) -> Result<Settings, ConfigError> {
        let ring = KeyRing::new(&config.keys)
            .ok_or_else(|| ConfigError { field: "keys".into(), problem: "the key ring could not be built".into() })?;
        let on_store_error = match &config.store {
            StoreConfig::Grpc { on_error, .. } => *on_error,
            StoreConfig::SharedData { .. } => OnError::FailOpen,
        };
        Ok(Settings { store: Store::from_config(&config.store), ring, config, on_store_error })
    }
}

/// What the shell's callback returns (proxy-wasm's `Action`, the dynamic module's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Pause,
}

/// Which paused direction a store reply lets go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Request,
    Response,
    /// Nothing to resume: still waiting, or the exchange was answered locally.
    Nothing,
}

pub const STORE_UNAVAILABLE_BODY: &str = "session store unavailable\n";
/// The answer to a request whose body may hold the token where it cannot be taken out: it is
/// refused rather than passed on with the token.
pub const UNCLEAN_BODY: &str = "the request body carries the session parameter in a part that cannot be removed\n";

/// The most rewritten output kept in Envoy's buffer while the rewriter waits for the rest of a
/// tag; past it, output flows on and only the rewriter's own bounded carry-over waits.
pub const MAX_HELD_BYTES: usize = 64 * 1024;

/// One request and its response.
pub struct Exchange {
    settings: Arc<Settings>,
    /// `None`: not a cookieless route, everything passes untouched.
    cookieless: Option<Box<Cookieless>>,
}

/// One cookieless exchange: what the request said, and where the exchange is.
struct Cookieless {
    request: RequestFacts,
    phase: Phase,
}

/// What the request said, read once from its headers.
struct RequestFacts {
    /// The request's `:authority`, lower-cased: what the token is bound to.
    authority: String,
    /// The path without query: what a path-scoped token is bound to, and the base of the page.
    path: String,
    client_ip: Option<String>,
    user_agent: Option<String>,
    browser_cookies: Option<String>,
    /// `Origin`, else `Referer`.
    origin: Option<String>,
    /// `Sec-Fetch-Site`, as sent.
    fetch_site: Option<String>,
    /// Envoy saw https (`:scheme`): `Secure` cookies go upstream only then.
    secure: bool,
    is_head: bool,
}

impl RequestFacts {
    /// The request as the jar sees it: the host without its port, the path, the scheme.
    fn cookie_context(&self, now: u64) -> CookieContext<'_> {
        CookieContext { host: strip_port(&self.authority), path: &self.path, secure: self.secure, now }
    }

    fn binding<'a>(&'a self, config: &Config) -> Binding<'a> {
        Binding {
            host: &self.authority,
            client_ip: self.client_ip.as_deref().filter(|_| config.token.bind_client_ip),
            user_agent: self.user_agent.as_deref().filter(|_| config.token.bind_user_agent),
            path: (config.token.scope == Scope::Path).then_some(self.path.as_str()),
        }
    }
}

/// Where the exchange is. The request waits in `ReadingForm` and `Loading`, the response in
/// `Updating`; `Upstream` and `Rewriting` let everything flow.
enum Phase {
    /// A POST form body that may carry the token is being buffered; `candidates` are the tokens
    /// the query and header had.
    ReadingForm { encoding: FormEncoding, candidates: Vec<String> },
    /// The session's jar is being loaded; the request and its body wait. `forwarded`: `id` is
    /// the session a rotated one moved to (followed once, never further).
    Loading { call: LoadCall, id: SessionId, forwarded: bool },
    /// The request went upstream, resuming `session` (or none).
    Upstream { session: Option<Resumed> },
    /// The response's `Set-Cookie`s are going into the store; the response and its body wait.
    Updating { call: UpdateCall, update: Update, waiting_body: Option<WaitingBody> },
    /// The body passes through the rewriter; `held` bytes of output are still in Envoy's buffer.
    Rewriting { rewriter: Box<Rewriter>, held: usize },
    /// Nothing more to do for this exchange.
    Done,
}

/// The session a request resumed: its id and the jar it sent upstream.
struct Resumed {
    id: SessionId,
    jar: Jar,
}

/// An update in flight: the session it writes, why, and what the response is.
#[derive(Debug, Clone, Copy)]
struct Update {
    id: SessionId,
    kind: UpdateKind,
    /// The response headers ended the stream.
    response_ends: bool,
}

/// What an update does to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateKind {
    /// The response's changes to the session's own jar; `creating`: it did not exist before.
    Changes { creating: bool },
    /// A rotation's first step: the jar and the changes, written to a new session; the old one
    /// (`from`) is retired next.
    Rotated { from: SessionId },
    /// A rotation's second step: the old session forwards to `to` for the grace, then is gone.
    /// `to_empty`: the new jar holds nothing (a logout), so no session goes on.
    Retired { to: SessionId, to_empty: bool },
}

/// A response body Envoy buffers while the filter waits: its size, and whether it is complete.
#[derive(Debug, Clone, Copy)]
struct WaitingBody {
    size: usize,
    ended: bool,
}

impl Exchange {
    pub fn new(settings: Arc<Settings>) -> Exchange {
        Exchange { settings, cookieless: None }
    }

    pub fn on_request_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Next {
        let settings = Arc::clone(&self.settings);
        let config = &settings.config;
        let authority = host.request_header(":authority").unwrap_or_default().to_ascii_lowercase();
        let full_path = host.request_header(":path").unwrap_or_default();
        strip_referer_token(host, config, &authority);
        if !config.routes.is_cookieless(&full_path, &authority) {
            return Next::Continue;
        }
        let request = RequestFacts {
            path: path_without_query(&full_path).to_string(),
            authority,
            client_ip: host.client_address().map(|a| strip_port(&a).to_string()),
            user_agent: host.request_header("user-agent"),
            browser_cookies: host.request_header("cookie"),
            origin: host.request_header("origin").or_else(|| host.request_header("referer")),
            fetch_site: host.request_header("sec-fetch-site"),
            secure: host.request_header(":scheme").is_some_and(|s| s.eq_ignore_ascii_case("https")),
            is_head: host.request_header(":method").as_deref() == Some("HEAD"),
        };
        if config.cookies.strip_request {
            host.set_request_header("cookie", None);
        }
        // Bodies must come back uncompressed to be rewritten.
        host.set_request_header("accept-encoding", None);
        let mut candidates = Vec::new();
        take_query_token(host, config, &mut candidates);
        take_header_token(host, config, &mut candidates);
        let mut exchange = Box::new(Cookieless { request, phase: Phase::Done });
        let next = match form_to_read(host, end_of_stream) {
            Some(encoding) => {
                exchange.phase = Phase::ReadingForm { encoding, candidates };
                Next::Pause
            }
            None => begin_resume(host, &settings, &mut exchange, &candidates),
        };
        self.cookieless = Some(exchange);
        next
    }

    /// Whether a body callback now may do anything but let the chunk pass: a shell that has to ask
    /// the host for `body_size` asks only then (natively that is three calls into Envoy a chunk,
    /// on every route).
    pub fn wants_body(&self) -> bool {
        let phase = self.cookieless.as_ref().map(|c| &c.phase);
        matches!(phase, Some(Phase::ReadingForm { .. } | Phase::Loading { .. } | Phase::Updating { .. } | Phase::Rewriting { .. }))
    }

    pub fn on_request_body(&mut self, host: &mut dyn Host, body_size: usize, end_of_stream: bool) -> Next {
        let settings = Arc::clone(&self.settings);
        let Some(exchange) = self.cookieless.as_mut() else {
            return Next::Continue;
        };
        match &mut exchange.phase {
            // The upstream gets the body only with the session's cookies, after the store answers.
            Phase::Loading { .. } => Next::Pause,
            // Envoy keeps buffering; `body_size` is the running total.
            Phase::ReadingForm { .. } if !end_of_stream => Next::Pause,
            Phase::ReadingForm { encoding, candidates } => {
                let body = host.request_body(body_size).unwrap_or_default();
                let Ok(taken) = encoding.take_token(&body, &settings.config.param) else {
                    debug!("cookieless: refused a request body the token cannot be taken out of");
                    host.count(Metric::RequestsRefused);
                    host.send_reply(400, UNCLEAN_BODY);
                    exchange.phase = Phase::Done;
                    return Next::Pause;
                };
                if let Some(stripped) = taken.body {
                    host.replace_request_body(body_size, &stripped);
                    host.set_request_header("content-length", Some(&stripped.len().to_string()));
                }
                let mut candidates = std::mem::take(candidates);
                if settings.config.transport.form {
                    candidates.extend(taken.token);
                }
                begin_resume(host, &settings, exchange, &candidates)
            }
            _ => Next::Continue,
        }
    }

    pub fn on_response_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Next {
        let settings = Arc::clone(&self.settings);
        let Some(exchange) = self.cookieless.as_mut() else {
            return Next::Continue;
        };
        match std::mem::replace(&mut exchange.phase, Phase::Done) {
            Phase::Upstream { session } => begin_update(host, &settings, exchange, session, end_of_stream),
            // Answered locally (a 503 from the filter), or never went upstream.
            other => {
                exchange.phase = other;
                Next::Continue
            }
        }
    }

    /// Rewrites each chunk as it passes. When the rewriter holds back the end of a chunk (an
    /// unfinished tag), the chunk's output stays in Envoy's buffer (`Pause`) until the next chunk,
    /// so that trailers, which end the stream without a last chunk, can still take the held bytes
    /// (`on_response_trailers`). At most `MAX_HELD_BYTES` are held: memory stays flat. While a
    /// store call is out, the body waits in Envoy's buffer until the call is done.
    pub fn on_response_body(&mut self, host: &mut dyn Host, body_size: usize, end_of_stream: bool) -> Next {
        let Some(exchange) = self.cookieless.as_mut() else {
            return Next::Continue;
        };
        match &mut exchange.phase {
            Phase::Updating { waiting_body, .. } => {
                *waiting_body = Some(WaitingBody { size: body_size, ended: end_of_stream });
                Next::Pause
            }
            Phase::Rewriting { .. } => rewrite_buffered(host, &mut exchange.phase, body_size, end_of_stream, true),
            _ => Next::Continue,
        }
    }

    /// With trailers, the end of the stream comes here rather than with the last body chunk: what
    /// the rewriter still holds goes out now.
    pub fn on_response_trailers(&mut self, host: &mut dyn Host) -> Next {
        let Some(exchange) = self.cookieless.as_mut() else {
            return Next::Continue;
        };
        match std::mem::replace(&mut exchange.phase, Phase::Done) {
            Phase::Updating { call, update, waiting_body } => {
                let size = waiting_body.map_or(0, |b| b.size);
                let waiting_body = Some(WaitingBody { size, ended: true });
                exchange.phase = Phase::Updating { call, update, waiting_body };
                Next::Pause
            }
            Phase::Rewriting { mut rewriter, held } => {
                let mut out = Vec::new();
                rewriter.end(&mut out);
                // Envoy still buffers the held output: the rest goes after it.
                if !out.is_empty() && !host.replace_response_body(held, 0, &out) {
                    warn!("cookieless: {} bytes held by the rewriter could not be sent before the trailers", out.len());
                }
                Next::Continue
            }
            other => {
                exchange.phase = other;
                Next::Continue
            }
        }
    }

    /// A reply to a store call: goes on where the exchange paused.
    pub fn on_store_reply(&mut self, host: &mut dyn Host, call: u32, reply: CallReply) -> Resume {
        let settings = Arc::clone(&self.settings);
        let Some(exchange) = self.cookieless.as_mut() else {
            return Resume::Nothing;
        };
        match std::mem::replace(&mut exchange.phase, Phase::Done) {
            Phase::Loading { call: pending, id, forwarded } if pending.id() == call => {
                let loading = pending.on_reply(&reply);
                match after_load(host, &settings, exchange, Some(id), loading, forwarded) {
                    Next::Continue => Resume::Request,
                    Next::Pause => Resume::Nothing,
                }
            }
            Phase::Updating { call: pending, update, waiting_body } if pending.id() == call => {
                let updating = pending.on_reply(host, &reply);
                let next = after_update(host, &settings, exchange, update, updating);
                if let Phase::Updating { waiting_body: still, .. } = &mut exchange.phase {
                    // Another round trip (a lost compare-and-set): the body keeps waiting.
                    *still = waiting_body;
                    return Resume::Nothing;
                }
                if next == Next::Pause {
                    return Resume::Nothing;
                }
                // What arrived meanwhile is in Envoy's buffer, about to be sent: rewrite it.
                if let Some(body) = waiting_body {
                    rewrite_buffered(host, &mut exchange.phase, body.size, body.ended, false);
                }
                Resume::Response
            }
            other => {
                // A reply to another call (or after the exchange moved on) changes nothing.
                exchange.phase = other;
                Resume::Nothing
            }
        }
    }
}

/// Rewrites the body Envoy holds (`body_size` bytes, of which the first `held` are output
/// already). With `may_hold`, a body whose end the rewriter still holds stays in Envoy's buffer.
fn rewrite_buffered(host: &mut dyn Host, phase: &mut Phase, body_size: usize, end_of_stream: bool, may_hold: bool) -> Next {
    let Phase::Rewriting { rewriter, held } = phase else {
        return Next::Continue;
    };
    // Envoy replaces a body only from its start, so held output is written back with the rest.
    // The rewriter takes the body piece by piece as the host holds it (the same output as in one
    // piece): no copy of the input.
    let mut out = Vec::with_capacity(body_size + 256);
    let mut kept = *held;
    host.read_response_body(body_size, &mut |piece| {
        let (old, fresh) = piece.split_at(kept.min(piece.len()));
        out.extend_from_slice(old);
        kept -= old.len();
        if !fresh.is_empty() {
            rewriter.write(fresh, &mut out);
        }
    });
    if end_of_stream {
        rewriter.end(&mut out);
    }
    host.replace_response_body(0, body_size, &out);
    if may_hold && !end_of_stream && rewriter.is_holding() && out.len() <= MAX_HELD_BYTES {
        *held = out.len();
        return Next::Pause;
    }
    *held = 0;
    if end_of_stream {
        *phase = Phase::Done;
    }
    Next::Continue
}

/// The query token is accepted only with `transport.query`, but removed in any case: the upstream
/// never sees a token.
fn take_query_token(host: &mut dyn Host, config: &Config, candidates: &mut Vec<String>) {
    let path = host.request_header_bytes(":path").unwrap_or_default();
    let (values, stripped) = take_query_param(&path, &config.param);
    if config.transport.query {
        candidates.extend(values);
    }
    if let Some(stripped) = stripped {
        host.set_request_header_bytes(":path", &stripped);
    }
}

/// A page that had the token in its URL sends that URL on as `Referer` to this site (the
/// response's Referrer-Policy keeps it here): the token is taken out of it on every route, since
/// the page's own requests (images, scripts, links) go to routes that are not cookieless too.
/// Only a Referer of this site's cookieless pages holds the filter's parameter.
fn strip_referer_token(host: &mut dyn Host, config: &Config, authority: &str) {
    let Some(raw) = host.request_header_bytes("referer") else {
        return;
    };
    let referer = String::from_utf8_lossy(&raw);
    let same = SameOrigin { host: authority, allowed_hosts: &config.allowed_hosts };
    let Some((referer_host, referer_path)) = split_absolute(&referer) else {
        return;
    };
    if !same.allows_origin_header(&referer) || !config.routes.is_cookieless(path_without_query(referer_path), referer_host) {
        return;
    }
    if let (_, Some(stripped)) = take_query_param(&raw, &config.param) {
        host.set_request_header_bytes("referer", &stripped);
    }
}

fn take_header_token(host: &mut dyn Host, config: &Config, candidates: &mut Vec<String>) {
    let Some(name) = config.transport.header.as_deref() else {
        return;
    };
    if let Some(value) = host.request_header(name) {
        candidates.push(value.trim().to_string());
        host.set_request_header(name, None);
    }
}

/// A form body is held only when it may carry the token: never for a request whose headers end
/// the stream (pausing those hangs them). Any method: scripts send forms with PUT and PATCH too.
/// Without `transport.form` the body is still read, to take the token out (it opens nothing).
fn form_to_read(host: &dyn Host, end_of_stream: bool) -> Option<FormEncoding> {
    // A compressed body (no browser sends one) is not a form the filter can read: it passes on as
    // it is, with whatever its sender put in it.
    let encoded = host.request_header("content-encoding").is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    if end_of_stream || encoded {
        return None;
    }
    FormEncoding::from_content_type(&host.request_header("content-type")?)
}

/// Opens the first good candidate token and asks the store for its jar.
fn begin_resume(host: &mut dyn Host, settings: &Settings, exchange: &mut Cookieless, candidates: &[String]) -> Next {
    let Some(id) = open_candidates(host, settings, &exchange.request, candidates) else {
        return after_load(host, settings, exchange, None, Loading::Done(Ok(Loaded::Missing)), false);
    };
    let loading = settings.store.load(host, id);
    after_load(host, settings, exchange, Some(id), loading, false)
}

/// Waits for the jar, or restores it as the upstream's `Cookie` header and tells the upstream.
/// A rotated session leads to the one it moved to, during the grace only, and only one step.
fn after_load(host: &mut dyn Host, settings: &Settings, exchange: &mut Cookieless, opened: Option<SessionId>, loading: Loading, forwarded: bool) -> Next {
    let config = &settings.config;
    let loaded = match (loading, opened) {
        (Loading::Waiting(call), Some(id)) => {
            exchange.phase = Phase::Loading { call, id, forwarded };
            return Next::Pause;
        }
        (Loading::Waiting(_), None) => Ok(Loaded::Missing),
        (Loading::Done(loaded), _) => loaded,
    };
    let mut session = None;
    match (loaded, opened) {
        (Ok(Loaded::Found(jar)), Some(id)) => match jar.moved() {
            Some(moved) if !forwarded && host.now() <= moved.until => {
                let loading = settings.store.load(host, moved.to);
                return after_load(host, settings, exchange, Some(moved.to), loading, true);
            }
            // Rotated away: tokens of before open nothing once the grace is over.
            Some(_) => host.count(Metric::SessionsExpired),
            None => {
                let browser = exchange.request.browser_cookies.as_deref().filter(|_| !config.cookies.strip_request);
                let cookies = jar.cookie_header(&exchange.request.cookie_context(host.now()), browser);
                host.set_request_header("cookie", Some(&cookies));
                host.count(Metric::SessionsResumed);
                session = Some(Resumed { id, jar });
            }
        },
        (Ok(Loaded::Missing | Loaded::Expired), Some(_)) => host.count(Metric::SessionsExpired),
        (Ok(_), _) => {}
        (Err(e), _) => {
            if store_failed(host, settings, "load", e) == Next::Pause {
                exchange.phase = Phase::Done;
                return Next::Pause;
            }
        }
    }
    if let Some(name) = config.upstream_header.as_deref() {
        let value = if session.is_some() { "resumed" } else { "none" };
        host.set_request_header(name, Some(value));
    }
    exchange.phase = Phase::Upstream { session };
    Next::Continue
}

/// Counts and logs a store failure; with `fail_closed`, answers 503 and says to stop (`Pause`).
fn store_failed(host: &mut dyn Host, settings: &Settings, what: &str, error: StoreError) -> Next {
    warn!("cookieless: session store failed on {what}: {error:?}");
    host.count(Metric::StoreErrors);
    if settings.on_store_error == OnError::FailClosed && error == StoreError::Unavailable {
        host.send_reply(503, STORE_UNAVAILABLE_BODY);
        return Next::Pause;
    }
    Next::Continue
}

fn open_candidates(host: &dyn Host, settings: &Settings, request: &RequestFacts, candidates: &[String]) -> Option<SessionId> {
    if candidates.is_empty() {
        return None;
    }
    let config = &settings.config;
    if let Err(why) = check_origin(config, request) {
        debug!("cookieless: token refused: {why}");
        host.count(Metric::TokensRejected);
        return None;
    }
    let binding = request.binding(config);
    let mut last = Rejection::Malformed;
    for candidate in candidates {
        match settings.ring.open(candidate, &binding, host.now(), config.token.ttl_seconds) {
            Ok(opened) => return Some(opened.session),
            Err(rejection) => last = rejection,
        }
    }
    debug!("cookieless: token refused: {last}");
    host.count(if last == Rejection::Expired { Metric::SessionsExpired } else { Metric::TokensRejected });
    None
}

/// A token only counts when the request comes from a page of this site: the browser's Fetch
/// metadata (`Sec-Fetch-Site`) when it sends them, and Origin, else Referer.
fn check_origin(config: &Config, request: &RequestFacts) -> Result<(), &'static str> {
    let same = SameOrigin { host: &request.authority, allowed_hosts: &config.allowed_hosts };
    check_fetch_site(config, request, &same)?;
    match request.origin.as_deref() {
        Some(origin) if same.allows_origin_header(origin) => Ok(()),
        Some(_) => Err("foreign origin"),
        None if config.require_referer => Err("no origin or referer"),
        None => Ok(()),
    }
}

/// A token comes with a `Sec-Fetch-Site` the configuration accepts; `same-site` (another origin
/// of this site, e.g. a sibling subdomain) only from a host `allowed_hosts` names, so it must say
/// where it came from. An unknown value is refused: browsers send four.
fn check_fetch_site(config: &Config, request: &RequestFacts, same: &SameOrigin<'_>) -> Result<(), &'static str> {
    let Some(value) = request.fetch_site.as_deref() else {
        return Ok(());
    };
    let site = FetchSite::from_header(value).ok_or("unknown Sec-Fetch-Site")?;
    if !config.accepted_fetch_sites.contains(&site) {
        return Err("Sec-Fetch-Site not accepted");
    }
    let from_allowed_host = request.origin.as_deref().is_some_and(|o| same.allows_origin_header(o));
    if site == FetchSite::SameSite && !from_allowed_host {
        return Err("same-site request not from an allowed host");
    }
    Ok(())
}

/// Moves every `Set-Cookie` into the jar. A session is created only when the jar first holds a
/// cookie: requests that need no state store nothing. When the app gives its session a new
/// identity, the jar moves to a new session id ([`rotates`]).
fn begin_update(host: &mut dyn Host, settings: &Settings, exchange: &mut Cookieless, session: Option<Resumed>, response_ends: bool) -> Next {
    let asked = rotation_asked(host, &settings.config);
    let headers = host.response_header_values("set-cookie");
    if headers.is_empty() && !(asked && session.is_some()) {
        return finish_response(host, settings, exchange, session.map(|s| s.id), response_ends);
    }
    host.set_response_header("set-cookie", None);
    let ctx = exchange.request.cookie_context(host.now());
    let changes: Vec<JarChange> = headers.iter().filter_map(|h| parse_set_cookie(h, &ctx)).collect();
    let (id, kind, changes) = match session {
        Some(resumed) if asked || rotates(&settings.config, &resumed.jar, &changes) => {
            // Without a new id the session is not rotated, and goes on without a token.
            let Some(new) = new_session_id(host) else {
                return finish_response(host, settings, exchange, None, response_ends);
            };
            let mut all = resumed.jar.to_changes();
            all.extend(changes);
            (new, UpdateKind::Rotated { from: resumed.id }, all)
        }
        Some(resumed) => (resumed.id, UpdateKind::Changes { creating: false }, changes),
        None if !changes.iter().any(|c| matches!(c, JarChange::Set(_))) => {
            return finish_response(host, settings, exchange, None, response_ends);
        }
        None => {
            let Some(new) = new_session_id(host) else {
                return finish_response(host, settings, exchange, None, response_ends);
            };
            (new, UpdateKind::Changes { creating: true }, changes)
        }
    };
    let update = Update { id, kind, response_ends };
    let updating = settings.store.update(host, id, changes);
    after_update(host, settings, exchange, update, updating)
}

/// The app's explicit signal (`rotation.header`), taken off the response in any case.
fn rotation_asked(host: &mut dyn Host, config: &Config) -> bool {
    let Some(name) = config.rotation.header.as_deref() else {
        return false;
    };
    let Some(value) = host.response_header(name) else {
        return false;
    };
    host.set_response_header(name, None);
    !matches!(value.trim(), "" | "0")
}

/// Does the response give the session a new identity: a new value of a cookie that holds a
/// server-side session id, or its deletion? Other cookies change freely (a framework that keeps
/// its session in the cookie rewrites it on every write: rotating then would break older pages).
fn rotates(config: &Config, jar: &Jar, changes: &[JarChange]) -> bool {
    let is_id = |name: &str| config.rotation.session_cookies.iter().any(|c| c == name);
    changes.iter().any(|change| match change {
        JarChange::Set(cookie) => is_id(&cookie.name) && jar.get(&cookie.name) != Some(cookie.value.as_str()),
        JarChange::Delete { name, .. } => is_id(name) && jar.get(name).is_some(),
        JarChange::Retire { .. } => false,
    })
}

fn new_session_id(host: &mut dyn Host) -> Option<SessionId> {
    let mut bytes = [0u8; 16];
    let filled = host.fill_random(&mut bytes);
    if !filled {
        warn!("cookieless: no randomness for a session id");
    }
    filled.then_some(SessionId(bytes))
}

/// Waits for the store, or goes on with the session the update leaves.
fn after_update(host: &mut dyn Host, settings: &Settings, exchange: &mut Cookieless, update: Update, updating: Updating) -> Next {
    let updated: Result<Jar, StoreError> = match updating {
        Updating::Waiting(call) => {
            exchange.phase = Phase::Updating { call, update, waiting_body: None };
            return Next::Pause;
        }
        Updating::Done(updated) => updated,
    };
    let session = match (updated, update.kind) {
        (Ok(_), UpdateKind::Retired { to, to_empty }) => (!to_empty).then_some(to),
        // Also when the new jar is empty (a logout): the old session must not open any more.
        (Ok(jar), UpdateKind::Rotated { from }) => {
            host.count(Metric::SessionsRotated);
            return retire(host, settings, exchange, from, update, jar.is_empty());
        }
        (Ok(jar), _) if jar.is_empty() => None,
        (Ok(_), UpdateKind::Changes { creating }) => {
            if creating {
                host.count(Metric::SessionsCreated);
            }
            Some(update.id)
        }
        (Err(e), kind) => {
            if store_failed(host, settings, "update", e) == Next::Pause {
                exchange.phase = Phase::Done;
                return Next::Pause;
            }
            match kind {
                UpdateKind::Changes { creating: false } => Some(update.id),
                // The new session holds the jar: it is the session, even if the old one could not
                // be retired (its tokens then open the jar of before, until it expires).
                UpdateKind::Retired { to, to_empty } => (!to_empty).then_some(to),
                UpdateKind::Changes { creating: true } | UpdateKind::Rotated { .. } => None,
            }
        }
    };
    finish_response(host, settings, exchange, session, update.response_ends)
}

/// A rotation's second step: the old session forwards to the new one for the grace.
fn retire(host: &mut dyn Host, settings: &Settings, exchange: &mut Cookieless, old: SessionId, rotated: Update, to_empty: bool) -> Next {
    let until = host.now().saturating_add(settings.config.rotation.grace_seconds);
    let kind = UpdateKind::Retired { to: rotated.id, to_empty };
    let update = Update { id: old, kind, response_ends: rotated.response_ends };
    let updating = settings.store.update(host, old, vec![JarChange::Retire { to: rotated.id, until }]);
    after_update(host, settings, exchange, update, updating)
}

/// Hands the browser a fresh token wherever it needs one, when there is a session.
fn finish_response(host: &mut dyn Host, settings: &Settings, exchange: &mut Cookieless, session: Option<SessionId>, response_ends: bool) -> Next {
    let config = &settings.config;
    exchange.phase = Phase::Done;
    if config.cookies.clear_browser && exchange.request.browser_cookies.is_some() {
        host.set_response_header("clear-site-data", Some("\"cookies\""));
    }
    let Some(session) = session else {
        return Next::Continue;
    };
    // One draw for the token's nonce and the id of its forms: each draw is a call into the host.
    let mut random = [0u8; 12 + FORM_ID_BYTES];
    if !host.fill_random(&mut random) {
        warn!("cookieless: no randomness for a token nonce");
        return Next::Continue;
    }
    let Some((nonce, form_random)) = random.split_first_chunk::<12>() else {
        return Next::Continue;
    };
    let token = match settings.ring.seal(session, host.now(), &exchange.request.binding(config), *nonce) {
        Ok(token) => token,
        Err(e) => {
            warn!("cookieless: could not seal a token: {e}");
            return Next::Continue;
        }
    };
    rewrite_location(host, config, &exchange.request, &token);
    set_token_headers(host, config, &token);
    if let Some(rewriter) = body_rewriter(host, config, &exchange.request, response_ends, token, form_random) {
        exchange.phase = Phase::Rewriting { rewriter: Box::new(rewriter), held: 0 };
    }
    Next::Continue
}

/// Same-origin `Location`s of redirects carry the token; foreign ones never do.
fn rewrite_location(host: &mut dyn Host, config: &Config, request: &RequestFacts, token: &str) {
    if !config.rewrite.redirects {
        return;
    }
    let status = host.response_header(":status").and_then(|s| s.parse::<u16>().ok());
    if !status.is_some_and(|s| (300..400).contains(&s)) {
        return;
    }
    let Some(location) = host.response_header_bytes("location") else {
        return;
    };
    let same = SameOrigin { host: &request.authority, allowed_hosts: &config.allowed_hosts };
    // Bytes that are not UTF-8 (a Latin-1 path) can only be in the path: they stay as they are.
    let text = String::from_utf8_lossy(&location);
    if same.allows_url(&text) && leads_to_cookieless_route(config, request, &text) {
        let mut rewritten = Vec::with_capacity(location.len() + token.len() + config.param.len() + 2);
        push_with_query_param(&mut rewritten, &location, config.param.as_bytes(), token.as_bytes(), QuerySeparator::Amp);
        host.set_response_header_bytes("location", &rewritten);
    }
}

/// A URL of this site goes to a route that is cookieless: only there is the token taken out
/// again, and only there does the response keep it private. Links elsewhere get no token.
fn leads_to_cookieless_route(config: &Config, request: &RequestFacts, url: &str) -> bool {
    let host = reference_authority(url).unwrap_or_else(|| request.authority.clone());
    config.routes.is_cookieless(&resolved_path(&request.path, url), &host)
}

fn set_token_headers(host: &mut dyn Host, config: &Config, token: &str) {
    if let Some(name) = config.transport.header.as_deref() {
        host.set_response_header(name, Some(token));
    }
    if let Some(policy) = config.response_headers.referrer_policy.as_deref() {
        host.set_response_header("referrer-policy", Some(policy));
    }
    if let Some(cache) = config.response_headers.cache_control.as_deref() {
        host.set_response_header("cache-control", Some(cache));
    }
    if let Some(policy) = config.response_headers.content_security_policy.as_deref() {
        host.add_response_header("content-security-policy", policy);
    }
}

/// A rewriter for this body, when there is one to rewrite; `content-length` goes, since the body
/// changes length.
fn body_rewriter(host: &mut dyn Host, config: &Config, request: &RequestFacts, response_ends: bool, token: String, form_random: &[u8]) -> Option<Rewriter> {
    let rewrite = &config.rewrite;
    if !rewrite.links && !rewrite.forms && rewrite.placeholder.is_none() {
        return None;
    }
    let content_type = host.response_header("content-type")?;
    if !is_rewritable_content_type(&content_type, &rewrite.content_types) {
        return None;
    }
    if !body_may_be_rewritten(host, request.is_head, response_ends) {
        host.count(Metric::RewriteSkipped);
        return None;
    }
    host.set_response_header("content-length", None);
    host.count(Metric::BodiesRewritten);
    Some(Rewriter::new(RewriteOptions {
        param: config.param.clone(),
        token,
        links: rewrite.links,
        forms: rewrite.forms,
        placeholder: rewrite.placeholder.clone().unwrap_or_default(),
        host: request.authority.clone(),
        path: request.path.clone(),
        allowed_hosts: config.allowed_hosts.clone(),
        form_id: form_id(form_random),
    })
    .charset_declared(declares_charset(&content_type))
    .routes(Arc::clone(&config.routes)))
}

/// Random bytes of a form id.
const FORM_ID_BYTES: usize = 8;

/// `cl-` and 16 random hex digits (from `FORM_ID_BYTES` random bytes): unguessable by markup
/// injected before the response was made.
fn form_id(random: &[u8]) -> String {
    let digit = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    let mut id = String::with_capacity(19);
    id.push_str("cl-");
    for &b in random {
        // Two digits a byte, without `format!` (a formatter per byte, on every rewritten page).
        id.extend([digit(b >> 4), digit(b & 0xf)]);
    }
    id
}

/// Does a `Content-Type` carry a `charset` parameter?
fn declares_charset(content_type: &str) -> bool {
    content_type.split(';').skip(1).any(|p| p.split('=').next().is_some_and(|n| n.trim().eq_ignore_ascii_case("charset")))
}

fn body_may_be_rewritten(host: &dyn Host, is_head: bool, end_of_stream: bool) -> bool {
    let status = host.response_header(":status").unwrap_or_default();
    let encoded = host
        .response_header("content-encoding")
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    !(is_head || end_of_stream || encoded || status == "204" || status == "304")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mock::{MockHost, SharedMemory};
    use crate::host::Headers;
    use crate::proto;
    use prost::Message;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const NOW: u64 = 1_800_000_000;

    fn settings(extra: &str) -> Arc<Settings> {
        let json = format!(r#"{{"keys": [{{"id": "k1", "secret": "{KEY}"}}], "store": {{"kind": "shared_data", "max_sessions": 1000, "idle_timeout_seconds": 600}} {extra}}}"#);
        Arc::new(Settings::from_config(Config::parse(json.as_bytes(), &|_| None).unwrap()).unwrap())
    }

    fn request(shared: &SharedMemory, method: &str, path: &str) -> MockHost {
        MockHost {
            now: NOW,
            client: Some("192.0.2.1:5555".into()),
            shared: shared.clone(),
            request_headers: vec![
                (":method".into(), method.into()),
                (":path".into(), path.into()),
                (":authority".into(), "www.example.com".into()),
                ("user-agent".into(), "UA/1".into()),
                ("accept-encoding".into(), "gzip".into()),
            ],
            ..Default::default()
        }
    }

    /// Runs a GET and its response through a fresh exchange; returns the host afterwards.
    fn round_trip(settings: &Arc<Settings>, mut host: MockHost, response: &[(&str, &str)], body: &str) -> MockHost {
        let mut exchange = Exchange::new(Arc::clone(settings));
        assert_eq!(exchange.on_request_headers(&mut host, true), Next::Continue);
        host.response_headers = response.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        host.response_body = body.as_bytes().to_vec();
        assert_eq!(exchange.on_response_headers(&mut host, body.is_empty()), Next::Continue);
        if !body.is_empty() {
            exchange.on_response_body(&mut host, body.len(), true);
        }
        host
    }

    fn html(status: &str) -> Vec<(&str, &str)> {
        vec![(":status", status), ("content-type", "text/html; charset=utf-8")]
    }

    #[test]
    fn a_set_cookie_creates_a_session_that_the_next_request_resumes() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut response = html("200");
        response.push(("set-cookie", "app=v1; Path=/; HttpOnly"));
        response.push(("content-security-policy", "script-src 'self'"));
        let first = round_trip(&settings, request(&shared, "GET", "/form"), &response, "<p>hi</p>");
        // The app's own policy stays; ours is added beside it (browsers enforce both).
        assert_eq!(
            first.response_header_values("content-security-policy"),
            ["script-src 'self'", "base-uri 'self'; form-action 'self'"]
        );
        assert!(first.response_header_values("set-cookie").is_empty());
        assert_eq!(first.request_header("accept-encoding"), None);
        assert_eq!(first.request_header("x-cookieless-session").as_deref(), Some("none"));
        assert_eq!(first.metric(Metric::SessionsCreated), 1);
        assert_eq!(first.response_header("referrer-policy").as_deref(), Some("same-origin"));
        assert_eq!(first.response_header("content-length"), None);
        let token = first.response_header("x-cookieless-token").unwrap();

        let second = round_trip(&settings, request(&shared, "GET", &format!("/next?sessionid={token}&a=1")), &html("200"), "");
        assert_eq!(second.request_header(":path").as_deref(), Some("/next?a=1"));
        assert_eq!(second.request_header("cookie").as_deref(), Some("app=v1"));
        assert_eq!(second.request_header("x-cookieless-session").as_deref(), Some("resumed"));
        assert_eq!(second.metric(Metric::SessionsResumed), 1);
        assert_ne!(second.response_header("x-cookieless-token").unwrap(), token, "a fresh token each time");
    }

    #[test]
    fn no_state_means_no_session_and_no_token() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let host = round_trip(&settings, request(&shared, "GET", "/"), &html("200"), "<a href=/x>x</a>");
        assert_eq!(host.response_header("x-cookieless-token"), None);
        assert_eq!(host.response_body, b"<a href=/x>x</a>");
        assert!(shared.map.borrow().is_empty(), "nothing stored");
    }

    #[test]
    fn the_browsers_cookies_are_stripped_and_replaced_by_the_jar() {
        let settings = settings("");
        let shared = SharedMemory::default();
        // Without a session the browser's cookies are simply gone.
        let mut host = request(&shared, "GET", "/");
        host.request_headers.push(("cookie".into(), "sessionid=forged".into()));
        let mut response = html("200");
        response.push(("set-cookie", "sessionid=real"));
        let first = round_trip(&settings, host, &response, "");
        assert_eq!(first.request_header("cookie"), None);
        // With one, the upstream gets the jar and nothing of what the browser sent.
        let token = first.response_header("x-cookieless-token").unwrap();
        let mut host = request(&shared, "GET", &format!("/?sessionid={token}"));
        host.request_headers.push(("cookie".into(), "sessionid=forged; theme=dark".into()));
        let second = round_trip(&settings, host, &html("200"), "");
        assert_eq!(second.request_header("cookie").as_deref(), Some("sessionid=real"));
    }

    #[test]
    fn routes_that_are_not_cookieless_are_left_alone() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut host = request(&shared, "GET", "/admin/x?sessionid=abc");
        host.request_headers.push(("cookie".into(), "a=1".into()));
        let before = host.request_headers.clone();
        let mut response = html("200");
        response.push(("set-cookie", "a=2"));
        let host = round_trip(&settings, host, &response, "<form></form>");
        assert_eq!(host.request_headers, before);
        assert_eq!(host.response_header_values("set-cookie"), ["a=2"]);
        assert_eq!(host.response_body, b"<form></form>");
    }

    #[test]
    fn a_form_post_is_held_until_its_body_gives_the_token_which_is_removed() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut response = html("200");
        response.push(("set-cookie", "app=v1"));
        let token = round_trip(&settings, request(&shared, "GET", "/"), &response, "")
            .response_header("x-cookieless-token")
            .unwrap();

        let mut host = request(&shared, "POST", "/submit");
        host.request_headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        host.request_body = format!("name=Ada&sessionid={token}").into_bytes();
        let mut exchange = Exchange::new(Arc::clone(&settings));
        assert_eq!(exchange.on_request_headers(&mut host, false), Next::Pause);
        assert_eq!(exchange.on_request_body(&mut host, 4, false), Next::Pause);
        let size = host.request_body.len();
        assert_eq!(exchange.on_request_body(&mut host, size, true), Next::Continue);
        assert_eq!(host.request_body, b"name=Ada");
        assert_eq!(host.request_header("content-length").as_deref(), Some("8"));
        assert_eq!(host.request_header("cookie").as_deref(), Some("app=v1"));
    }

    #[test]
    fn bodies_are_wanted_only_while_the_exchange_reads_or_rewrites_them() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut host = request(&shared, "GET", "/admin/x");
        let mut exchange = Exchange::new(Arc::clone(&settings));
        exchange.on_request_headers(&mut host, true);
        assert!(!exchange.wants_body(), "a route that is not cookieless");

        let mut host = request(&shared, "POST", "/submit");
        host.request_headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        host.request_body = b"a=1".to_vec();
        let mut exchange = Exchange::new(Arc::clone(&settings));
        exchange.on_request_headers(&mut host, false);
        assert!(exchange.wants_body(), "a form that may carry the token");
        exchange.on_request_body(&mut host, 3, true);
        assert!(!exchange.wants_body(), "upstream, without a session");
        host.response_headers = html("200").iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        exchange.on_response_headers(&mut host, false);
        assert!(!exchange.wants_body(), "no session: nothing to rewrite");
    }

    #[test]
    fn a_rewritten_body_is_wanted_until_it_ends() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut response = html("200");
        response.push(("set-cookie", "app=v1"));
        let mut host = request(&shared, "GET", "/");
        let mut exchange = Exchange::new(Arc::clone(&settings));
        exchange.on_request_headers(&mut host, true);
        host.response_headers = response.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        host.response_body = b"<a href=/x>x</a>".to_vec();
        exchange.on_response_headers(&mut host, false);
        assert!(exchange.wants_body());
        let size = host.response_body.len();
        exchange.on_response_body(&mut host, size, true);
        assert!(!exchange.wants_body());
    }

    #[test]
    fn a_post_whose_headers_end_the_stream_is_never_held() {
        let settings = settings("");
        let mut host = request(&SharedMemory::default(), "POST", "/submit");
        host.request_headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        assert_eq!(Exchange::new(settings).on_request_headers(&mut host, true), Next::Continue);
    }

    #[test]
    fn json_bodies_are_not_held() {
        let settings = settings("");
        let mut host = request(&SharedMemory::default(), "POST", "/api");
        host.request_headers.push(("content-type".into(), "application/json".into()));
        assert_eq!(Exchange::new(settings).on_request_headers(&mut host, false), Next::Continue);
    }

    #[test]
    fn same_origin_redirects_carry_the_token_foreign_ones_do_not() {
        let settings = settings("");
        let shared = SharedMemory::default();
        for (location, rewritten) in [
            ("/step2", true),
            ("http://www.example.com/step2", true),
            ("https://evil.example/?next=www.example.com", false),
            ("//evil.example/x", false),
        ] {
            let response = [(":status", "303"), ("location", location), ("set-cookie", "a=1")];
            let host = round_trip(&settings, request(&shared, "GET", "/"), &response, "");
            let got = host.response_header("location").unwrap();
            assert_eq!(got.contains("sessionid="), rewritten, "{location} -> {got}");
        }
    }

    #[test]
    fn the_body_gets_the_token_in_forms_and_placeholders() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut response = html("200");
        response.push(("set-cookie", "a=1"));
        response.push(("content-length", "44"));
        let page = "<form method=post><input name=t value=__COOKIELESS_TOKEN__></form>__COOKIELESS_TOKEN__";
        let host = round_trip(&settings, request(&shared, "GET", "/"), &response, page);
        let token = host.response_header("x-cookieless-token").unwrap();
        let body = String::from_utf8(host.response_body.clone()).unwrap();
        // The form gets a random id of its own, and the hidden input belongs to it by that id.
        let id = body.split("<form id=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
        assert!(id.len() == 21 && id.starts_with("cl-") && id.ends_with("-1") && id[3..19].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(body.contains(&format!(r#"name="sessionid" value="{token}" form="{id}""#)), "{body}");
        // The placeholder: in the control of the token form, not in text.
        assert!(body.contains(&format!("<input name=t value={token}>")), "{body}");
        assert!(body.ends_with("</form>__COOKIELESS_TOKEN__"), "{body}");
        assert_eq!(host.response_header("content-length"), None);
        assert_eq!(host.metric(Metric::BodiesRewritten), 1);
    }

    #[test]
    fn without_a_declared_charset_esc_bytes_are_replaced() {
        let settings = settings("");
        let page = "<p>\x1b$B</p>";
        for (content_type, want) in [
            ("text/html", "<p>\u{fffd}$B</p>"),
            ("text/html; charset=utf-8", page),
            ("text/html;Charset=\"windows-1252\"", page),
        ] {
            let response = vec![(":status", "200"), ("content-type", content_type), ("set-cookie", "a=1")];
            let host = round_trip(&settings, request(&SharedMemory::default(), "GET", "/"), &response, page);
            assert_eq!(String::from_utf8(host.response_body).unwrap(), want, "{content_type}");
        }
    }

    #[test]
    fn compressed_and_bodiless_responses_are_not_rewritten() {
        let settings = settings("");
        let page = "<a href=/x>x</a>";
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
        let cases: [Case; 5] = [
            ("gzip", "200", Some(("content-encoding", "gzip"))),
            ("br", "200", Some(("content-encoding", "br"))),
            ("HEAD", "200", None),
            ("204", "204", None),
            ("304", "304", None),
        ];
        for (what, status, header) in cases {
            let shared = SharedMemory::default();
            let mut response = html(status);
            response.push(("set-cookie", "a=1"));
            response.extend(header);
            let method = if what == "HEAD" { "HEAD" } else { "GET" };
            let host = round_trip(&settings, request(&shared, method, "/"), &response, page);
            assert_eq!(host.response_body, page.as_bytes(), "{what}");
            assert!(host.response_header("x-cookieless-token").is_some(), "{what}: the session still gets its token");
            assert_eq!(host.metric(Metric::RewriteSkipped), 1, "{what}");
        }
        // Identity is no encoding: rewritten.
        let mut identity = html("200");
        identity.push(("set-cookie", "a=1"));
        identity.push(("content-encoding", "identity"));
        let host = round_trip(&settings, request(&SharedMemory::default(), "GET", "/"), &identity, page);
        assert_ne!(host.response_body, page.as_bytes());
    }

    #[test]
    fn a_token_bound_to_another_client_is_rejected() {
        let settings = settings("");
        let shared = SharedMemory::default();
        let mut response = html("200");
        response.push(("set-cookie", "a=1"));
        let token = round_trip(&settings, request(&shared, "GET", "/"), &response, "")
            .response_header("x-cookieless-token")
            .unwrap();
        let mut thief = request(&shared, "GET", &format!("/?sessionid={token}"));
        thief.client = Some("198.51.100.7:1234".into());
        let thief = round_trip(&settings, thief, &html("200"), "");
        assert_eq!(thief.request_header("cookie"), None);
        assert_eq!(thief.request_header("x-cookieless-session").as_deref(), Some("none"));
        assert_eq!(thief.metric(Metric::TokensRejected), 1);
    }

    fn grpc_settings(on_store_error: OnError) -> Arc<Settings> {
        let on_error = match on_store_error {
            OnError::FailOpen => "fail_open",
            OnError::FailClosed => "fail_closed",
        };
        let json = format!(
            r#"{{"keys": [{{"id": "k1", "secret": "{KEY}"}}],
                "store": {{"kind": "grpc", "cluster": "sessiond", "timeout_ms": 100, "on_error": "{on_error}"}}}}"#
        );
        Arc::new(Settings::from_config(Config::parse(json.as_bytes(), &|_| None).unwrap()).unwrap())
    }

    fn grpc_token(settings: &Settings) -> String {
        let binding = Binding { host: "www.example.com", client_ip: Some("192.0.2.1"), user_agent: Some("UA/1"), path: None };
        settings.ring.seal(SessionId([5; 16]), NOW, &binding, [9; 12]).unwrap()
    }

    #[test]
    fn settings_come_from_the_config_for_either_store() {
        let plain = settings("");
        assert!(matches!(plain.store, Store::SharedData(_)));
        assert_eq!(plain.on_store_error, OnError::FailOpen);
        for policy in [OnError::FailOpen, OnError::FailClosed] {
            let grpc = grpc_settings(policy);
            let Store::Grpc(store) = &grpc.store else { panic!("not the gRPC store") };
            assert_eq!((store.cluster.as_str(), store.timeout_ms), ("sessiond", 100));
            assert_eq!(grpc.on_store_error, policy);
        }
    }

    fn get_reply(jar: &str) -> CallReply {
        let found = proto::GetResponse { found: true, jar: jar.as_bytes().to_vec(), version: 1 };
        CallReply { status: 0, body: found.encode_to_vec() }
    }

    #[test]
    fn a_remote_store_pauses_the_request_until_the_jar_arrives() {
        let settings = grpc_settings(OnError::FailOpen);
        let token = grpc_token(&settings);
        let mut host = request(&SharedMemory::default(), "GET", &format!("/?sessionid={token}"));
        let mut exchange = Exchange::new(Arc::clone(&settings));
        assert_eq!(exchange.on_request_headers(&mut host, true), Next::Pause);
        assert_eq!(host.request_header("cookie"), None);
        assert_eq!(exchange.on_store_reply(&mut host, 99, get_reply("a=1\n")), Resume::Nothing, "not our call");
        assert_eq!(exchange.on_store_reply(&mut host, 1, get_reply("a=1\n")), Resume::Request);
        assert_eq!(host.request_header("cookie").as_deref(), Some("a=1"));
        assert_eq!(host.request_header("x-cookieless-session").as_deref(), Some("resumed"));

        // The response's Set-Cookie goes through Get + Put, holding the response meanwhile.
        host.response_headers = vec![(":status".into(), "200".into()), ("set-cookie".into(), "b=2".into())];
        assert_eq!(exchange.on_response_headers(&mut host, true), Next::Pause);
        assert_eq!(exchange.on_store_reply(&mut host, 2, get_reply("a=1\n")), Resume::Nothing);
        let stored = CallReply { status: 0, body: proto::PutResponse { stored: true, version: 2 }.encode_to_vec() };
        assert_eq!(exchange.on_store_reply(&mut host, 3, stored), Resume::Response);
        assert!(host.response_header("x-cookieless-token").is_some());
        assert!(host.response_header_values("set-cookie").is_empty());
    }

    #[test]
    fn a_failing_remote_store_fails_open_or_closed_as_configured() {
        for (policy, resume, reply) in [
            (OnError::FailOpen, Resume::Request, None),
            (OnError::FailClosed, Resume::Nothing, Some(503)),
        ] {
            let settings = grpc_settings(policy);
            let token = grpc_token(&settings);
            let mut host = request(&SharedMemory::default(), "GET", &format!("/?sessionid={token}"));
            let mut exchange = Exchange::new(Arc::clone(&settings));
            assert_eq!(exchange.on_request_headers(&mut host, true), Next::Pause);
            let deadline = CallReply { status: 4, body: vec![] };
            assert_eq!(exchange.on_store_reply(&mut host, 1, deadline), resume, "{policy:?}");
            assert_eq!(host.local_reply.as_ref().map(|r| r.0), reply, "{policy:?}");
            assert_eq!(host.metric(Metric::StoreErrors), 1);
            if policy == OnError::FailOpen {
                assert_eq!(host.request_header("x-cookieless-session").as_deref(), Some("none"));
            }
        }
    }

    fn streaming_exchange(settings: &Arc<Settings>) -> (Exchange, MockHost) {
        let mut host = request(&SharedMemory::default(), "GET", "/");
        let mut exchange = Exchange::new(Arc::clone(settings));
        exchange.on_request_headers(&mut host, true);
        let mut response = html("200");
        response.push(("set-cookie", "a=1"));
        host.response_headers = response.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(exchange.on_response_headers(&mut host, false), Next::Continue);
        (exchange, host)
    }

    #[test]
    fn a_chunk_ending_inside_a_tag_waits_in_envoys_buffer_for_the_rest() {
        let settings = settings("");
        // The body handed over in one piece, or in pieces that split the held output and the tag.
        for piece in [0, 1, 3, 5] {
            let (mut exchange, mut host) = streaming_exchange(&settings);
            host.body_piece = piece;
            let token = host.response_header("x-cookieless-token").unwrap();
            host.response_body = b"<p>a</p><a hre".to_vec();
            assert_eq!(exchange.on_response_body(&mut host, 14, false), Next::Pause);
            assert_eq!(host.response_body, b"<p>a</p>", "the unfinished tag stays with the rewriter");
            host.response_body.extend_from_slice(b"f=\"/x\">x</a>");
            let size = host.response_body.len();
            assert_eq!(exchange.on_response_body(&mut host, size, false), Next::Continue);
            let body = String::from_utf8(host.response_body.clone()).unwrap();
            assert_eq!(body, format!("<p>a</p><a href=\"//www.example.com/x?sessionid={token}\">x</a>"), "pieces of {piece}");
        }
    }

    #[test]
    fn trailers_end_the_stream_without_losing_held_bytes() {
        let settings = settings("");
        let (mut exchange, mut host) = streaming_exchange(&settings);
        host.response_body = b"<p>a</p><a hre".to_vec();
        assert_eq!(exchange.on_response_body(&mut host, 14, false), Next::Pause);
        assert_eq!(exchange.on_response_trailers(&mut host), Next::Continue);
        assert_eq!(host.response_body, b"<p>a</p><a hre");
    }

    #[test]
    fn held_output_is_bounded() {
        let settings = settings("");
        let (mut exchange, mut host) = streaming_exchange(&settings);
        let mut body = "<p>x</p>".repeat(MAX_HELD_BYTES / 8 + 1).into_bytes();
        body.extend_from_slice(b"<a hre");
        host.response_body = body;
        let size = host.response_body.len();
        assert_eq!(exchange.on_response_body(&mut host, size, false), Next::Continue, "too much to hold");
        // All of the chunk's output went on; only the unfinished tag waits, in the rewriter.
        assert_eq!(host.response_body.len(), size - b"<a hre".len());
        host.response_body = b"f=/x>".to_vec();
        assert_eq!(exchange.on_response_body(&mut host, 5, true), Next::Continue);
        let tail = String::from_utf8(host.response_body.clone()).unwrap();
        assert!(tail.starts_with("<a href=//www.example.com/x?sessionid="), "{tail}");
    }

    #[test]
    fn bodies_wait_while_a_store_call_is_out_and_are_rewritten_after() {
        let settings = grpc_settings(OnError::FailOpen);
        let mut host = request(&SharedMemory::default(), "POST", "/api");
        host.request_headers.push(("content-type".into(), "application/json".into()));
        let token = grpc_token(&settings);
        host.request_headers.push(("x-cookieless-token".into(), token));
        let mut exchange = Exchange::new(Arc::clone(&settings));
        assert_eq!(exchange.on_request_headers(&mut host, false), Next::Pause);
        assert_eq!(exchange.on_request_body(&mut host, 10, true), Next::Pause, "the body waits for the jar");
        assert_eq!(exchange.on_store_reply(&mut host, 1, get_reply("a=1\n")), Resume::Request);
        assert_eq!(host.request_header("cookie").as_deref(), Some("a=1"));

        host.response_headers = html("200").iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        host.response_headers.push(("set-cookie".into(), "b=2".into()));
        assert_eq!(exchange.on_response_headers(&mut host, false), Next::Pause);
        host.response_body = b"<form></form>".to_vec();
        assert_eq!(exchange.on_response_body(&mut host, 13, true), Next::Pause, "the body waits for the update");
        assert_eq!(exchange.on_store_reply(&mut host, 2, get_reply("a=1\n")), Resume::Nothing);
        let stored = CallReply { status: 0, body: proto::PutResponse { stored: true, version: 2 }.encode_to_vec() };
        assert_eq!(exchange.on_store_reply(&mut host, 3, stored), Resume::Response);
        let body = String::from_utf8(host.response_body.clone()).unwrap();
        assert!(body.contains(r#"name="sessionid""#), "{body}");
    }
}
