//! An ordinary cookie-session web app: a three-step form (name, email,
//! confirmation) whose state lives in a server-side session keyed by a
//! `sessionid` cookie, with a double-submit CSRF check (`csrftoken` cookie
//! must equal the `csrfmiddlewaretoken` form field).
//!
//! It knows nothing of the cookieless filter; it is the upstream the filter
//! is tested against.
//!
//! Routes:
//! - `GET /` – start page with a link to `/step1`
//! - `GET /step1`, `POST /step1` – ask for / store the name, 303 → `/step2`
//! - `GET /step2`, `POST /step2` – ask for / store the email, 303 → `/confirm`
//! - `GET /confirm` – shows `<p id="name">…</p>` and `<p id="email">…</p>`
//! - `GET /healthz` – `ok`
//! - `GET|POST /echo` – the request as received, as plain text

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sessionid";
/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "csrftoken";
/// Name of the hidden form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrfmiddlewaretoken";

/// Sessions idle for longer than this are dropped (lazily, when new
/// sessions are created).
const SESSION_TTL: Duration = Duration::from_secs(60 * 60);
/// Only sweep expired sessions once the store holds more than this many.
const SWEEP_THRESHOLD: usize = 1024;

#[derive(Debug, Clone)]
struct Session {
    name: Option<String>,
    email: Option<String>,
    last_seen: Instant,
}

impl Session {
    fn new() -> Self {
        Session {
            name: None,
            email: None,
            last_seen: Instant::now(),
        }
    }
}

/// Shared application state: the in-memory session store.
#[derive(Clone, Default)]
pub struct AppState {
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

impl AppState {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A poisoned lock only means another handler panicked mid-update;
        // the map itself is still usable.
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of live sessions (for tests).
    pub fn session_count(&self) -> usize {
        self.lock().len()
    }
}

/// Builds the application router with a fresh session store.
pub fn app() -> Router {
    app_with_state(AppState::default())
}

/// Builds the application router over the given state.
pub fn app_with_state(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/step1", get(step1_get).post(step1_post))
        .route("/step2", get(step2_get).post(step2_post))
        .route("/confirm", get(confirm_get))
        .route("/healthz", get(healthz))
        .route("/echo", get(echo_get).post(echo_post))
        .fallback(not_found)
        .with_state(state)
}

/// Serves the app on `listener` until `shutdown` completes. After the
/// shutdown signal, open connections get `grace` to finish before the
/// function returns anyway (idle keep-alive connections from browsers
/// would otherwise hold the process up).
pub async fn serve<F>(listener: TcpListener, shutdown: F, grace: Duration) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app()).with_graceful_shutdown(async move {
        let _ = rx.await;
    });
    let mut task = tokio::spawn(async move { server.await });
    tokio::select! {
        res = &mut task => return join_result(res),
        () = shutdown => {}
    }
    let _ = tx.send(());
    match tokio::time::timeout(grace, &mut task).await {
        Ok(res) => join_result(res),
        Err(_) => {
            task.abort();
            Ok(())
        }
    }
}

fn join_result(res: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    match res {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Escapes text for use in HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// 128 random bits as 32 lowercase hex digits.
pub fn random_id() -> String {
    let mut buf = [0u8; 16];
    if getrandom::fill(&mut buf).is_err() {
        // The OS RNG failing is not something a demo can recover from
        // sensibly; fall back to something unique enough rather than panic.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        buf = nanos.to_le_bytes();
    }
    let mut s = String::with_capacity(32);
    for b in buf {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Returns the value of the first cookie called `name` in the request's
/// `Cookie` header(s).
pub fn get_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

fn is_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn session_cookie(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax")
}

fn csrf_cookie(token: &str) -> String {
    format!("{CSRF_COOKIE}={token}; Path=/; SameSite=Lax")
}

/// Cookies to add to the response.
#[derive(Default)]
struct SetCookies(Vec<String>);

impl SetCookies {
    fn apply(self, mut resp: Response) -> Response {
        for c in self.0 {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Looks up the request's session, refreshing its idle timer.
fn find_session(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = get_cookie(headers, SESSION_COOKIE)?;
    let mut map = state.lock();
    let s = map.get_mut(&id)?;
    s.last_seen = Instant::now();
    Some((id, s.clone()))
}

/// Looks up the request's session, creating one (and queueing its cookie)
/// if there is none or the cookie names an unknown session.
fn ensure_session(
    state: &AppState,
    headers: &HeaderMap,
    cookies: &mut SetCookies,
) -> (String, Session) {
    if let Some(found) = find_session(state, headers) {
        return found;
    }
    let id = random_id();
    let session = Session::new();
    let mut map = state.lock();
    if map.len() > SWEEP_THRESHOLD {
        map.retain(|_, s| s.last_seen.elapsed() < SESSION_TTL);
    }
    map.insert(id.clone(), session.clone());
    cookies.0.push(session_cookie(&id));
    (id, session)
}

fn update_session(state: &AppState, id: &str, f: impl FnOnce(&mut Session)) {
    let mut map = state.lock();
    let s = map.entry(id.to_string()).or_insert_with(Session::new);
    f(s);
    s.last_seen = Instant::now();
}

/// The request's CSRF token, or a new one (queueing its cookie).
fn ensure_csrf(headers: &HeaderMap, cookies: &mut SetCookies) -> String {
    match get_cookie(headers, CSRF_COOKIE) {
        Some(t) if is_token(&t) => t,
        _ => {
            let t = random_id();
            cookies.0.push(csrf_cookie(&t));
            t
        }
    }
}

/// Parsed `application/x-www-form-urlencoded` body (first value wins).
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Checks the double-submit CSRF token: the cookie must be present and
/// equal to the form field.
fn csrf_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    match (get_cookie(headers, CSRF_COOKIE), form.get(CSRF_FIELD)) {
        (Some(c), Some(f)) => !c.is_empty() && constant_time_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn csrf_failed() -> Response {
    (StatusCode::FORBIDDEN, "CSRF check failed").into_response()
}

fn see_other(location: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, HeaderValue::from_static(location))],
    )
        .into_response()
}

fn page(title: &str, body: &str) -> Html<String> {
    let title = escape_html(title);
    Html(format!(
        "<!doctype html>\n\
         <html lang=\"en\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} - cookieless demo</title>\n\
         </head>\n\
         <body>\n\
         <h1>{title}</h1>\n\
         {body}\
         </body>\n\
         </html>\n"
    ))
}

fn no_name_page() -> Html<String> {
    page(
        "No name",
        "<p id=\"error\">No name in your session.</p>\n\
         <p><a href=\"/step1\">Go to step 1</a></p>\n",
    )
}

fn step1_page(token: &str, name: &str, error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p id=\"error\">{}</p>\n", escape_html(e)))
        .unwrap_or_default();
    page(
        "Step 1 of 3",
        &format!(
            "{error}<form method=\"post\" action=\"/step1\">\n\
             <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\n\
             <p><label for=\"name-input\">Your name</label>\n\
             <input id=\"name-input\" name=\"name\" type=\"text\" value=\"{name}\" required></p>\n\
             <p><button type=\"submit\">Next</button></p>\n\
             </form>\n",
            token = escape_html(token),
            name = escape_html(name),
        ),
    )
}

fn step2_page(token: &str, name: &str, email: &str, error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p id=\"error\">{}</p>\n", escape_html(e)))
        .unwrap_or_default();
    page(
        "Step 2 of 3",
        &format!(
            "<p>Hello, {name}.</p>\n\
             {error}<form method=\"post\" action=\"/step2\">\n\
             <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\n\
             <p><label for=\"email-input\">Your email</label>\n\
             <input id=\"email-input\" name=\"email\" type=\"email\" value=\"{email}\" required></p>\n\
             <p><button type=\"submit\">Next</button></p>\n\
             </form>\n\
             <p><a href=\"/step1\">Back to step 1</a></p>\n",
            name = escape_html(name),
            token = escape_html(token),
            email = escape_html(email),
        ),
    )
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

async fn index() -> Html<String> {
    page(
        "Cookieless demo",
        "<p>A three-step form whose state lives in a server-side session.</p>\n\
         <p><a href=\"/step1\">Start</a></p>\n",
    )
}

async fn step1_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut cookies = SetCookies::default();
    let (_, session) = ensure_session(&state, &headers, &mut cookies);
    let token = ensure_csrf(&headers, &mut cookies);
    let name = session.name.unwrap_or_default();
    cookies.apply(step1_page(&token, &name, None).into_response())
}

async fn step1_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    if !csrf_ok(&headers, &form) {
        return csrf_failed();
    }
    let mut cookies = SetCookies::default();
    let (id, _) = ensure_session(&state, &headers, &mut cookies);
    let name = form.get("name").map(|s| s.trim()).unwrap_or_default();
    if name.is_empty() {
        let token = ensure_csrf(&headers, &mut cookies);
        let resp = step1_page(&token, "", Some("Please enter your name.")).into_response();
        return cookies.apply(resp);
    }
    let name = name.to_string();
    update_session(&state, &id, |s| s.name = Some(name));
    cookies.apply(see_other("/step2"))
}

async fn step2_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut cookies = SetCookies::default();
    let (_, session) = ensure_session(&state, &headers, &mut cookies);
    let Some(name) = session.name else {
        return cookies.apply(no_name_page().into_response());
    };
    let token = ensure_csrf(&headers, &mut cookies);
    let email = session.email.unwrap_or_default();
    cookies.apply(step2_page(&token, &name, &email, None).into_response())
}

async fn step2_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    if !csrf_ok(&headers, &form) {
        return csrf_failed();
    }
    let mut cookies = SetCookies::default();
    let (id, session) = ensure_session(&state, &headers, &mut cookies);
    let email = form.get("email").map(|s| s.trim()).unwrap_or_default();
    if email.is_empty() {
        let resp = match session.name {
            Some(name) => {
                let token = ensure_csrf(&headers, &mut cookies);
                step2_page(&token, &name, "", Some("Please enter your email.")).into_response()
            }
            None => no_name_page().into_response(),
        };
        return cookies.apply(resp);
    }
    let email = email.to_string();
    update_session(&state, &id, |s| s.email = Some(email));
    cookies.apply(see_other("/confirm"))
}

async fn confirm_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = find_session(&state, &headers).map(|(_, s)| s);
    let Some(name) = session.as_ref().and_then(|s| s.name.clone()) else {
        return no_name_page().into_response();
    };
    let Some(email) = session.and_then(|s| s.email) else {
        return page(
            "No email",
            "<p id=\"error\">No email in your session.</p>\n\
             <p><a href=\"/step2\">Go to step 2</a></p>\n",
        )
        .into_response();
    };
    page(
        "Step 3 of 3: confirmed",
        &format!(
            "<p>Thank you. We have:</p>\n\
             <p id=\"name\">{}</p>\n\
             <p id=\"email\">{}</p>\n\
             <p><a href=\"/step1\">start again</a></p>\n",
            escape_html(&name),
            escape_html(&email),
        ),
    )
    .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// The request as received: `METHOD PATH?QUERY VERSION`, then one
/// `name: value` line per header (in received order within each name).
fn echo_text(method: &Method, uri: &Uri, version: Version, headers: &HeaderMap) -> String {
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = format!("{method} {target} {version:?}\n");
    for (name, value) in headers {
        let _ = writeln!(
            out,
            "{}: {}",
            name,
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    out
}

fn plain(text: String) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn echo_get(method: Method, uri: Uri, version: Version, headers: HeaderMap) -> Response {
    plain(echo_text(&method, &uri, version, &headers))
}

async fn echo_post(
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut out = echo_text(&method, &uri, version, &headers);
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&body));
    plain(out)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html(r#"<a href="x">O'Neil & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;O&#x27;Neil &amp; co&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain"), "plain");
    }

    #[test]
    fn random_ids_are_128_bit_hex_and_distinct() {
        let a = random_id();
        let b = random_id();
        assert!(is_token(&a), "{a}");
        assert!(is_token(&b), "{b}");
        assert_ne!(a, b);
    }

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; sessionid=abc ;csrftoken=\"xyz\""),
        );
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(get_cookie(&h, "sessionid").as_deref(), Some("abc"));
        assert_eq!(get_cookie(&h, "csrftoken").as_deref(), Some("xyz"));
        assert_eq!(get_cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(get_cookie(&h, "missing"), None);
        assert_eq!(get_cookie(&HeaderMap::new(), "a"), None);
    }

    #[test]
    fn csrf_requires_matching_cookie_and_field() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("csrftoken=t1"));
        let ok = parse_form(b"csrfmiddlewaretoken=t1&name=x");
        let bad = parse_form(b"csrfmiddlewaretoken=t2&name=x");
        let none = parse_form(b"name=x");
        assert!(csrf_ok(&h, &ok));
        assert!(!csrf_ok(&h, &bad));
        assert!(!csrf_ok(&h, &none));
        assert!(!csrf_ok(&HeaderMap::new(), &ok));
    }

    #[test]
    fn parses_forms() {
        let f = parse_form(b"name=J%C3%BCrgen+%3Cb%3E&name=second&x=");
        assert_eq!(f.get("name").map(String::as_str), Some("Jürgen <b>"));
        assert_eq!(f.get("x").map(String::as_str), Some(""));
    }

    #[test]
    fn echo_lists_request() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let uri: Uri = "/echo?q=1".parse().unwrap_or_default();
        let t = echo_text(&Method::GET, &uri, Version::HTTP_11, &h);
        assert_eq!(t, "GET /echo?q=1 HTTP/1.1\nx-a: 1\nx-a: 2\n");
    }
}
