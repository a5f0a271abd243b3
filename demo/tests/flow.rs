//! Walks the demo app the way a cookie-keeping browser would, with the
//! cookies carried by hand, against a server started in-process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ureq::http::Response;
use ureq::{Agent, Body};

fn start() -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            cookieless_demo::serve(listener, std::future::pending(), Duration::from_secs(1))
                .await
                .unwrap();
        });
    });
    addr
}

fn agent() -> Agent {
    Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A browser's cookie jar, reduced to what the demo needs.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, resp: &Response<Body>) {
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            self.0.insert(k.trim().to_string(), val.trim().to_string());
        }
    }
}

fn set_cookies(resp: &Response<Body>) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn get(agent: &Agent, addr: SocketAddr, path: &str, jar: &mut Jar) -> (u16, String) {
    let mut req = agent.get(format!("http://{addr}{path}"));
    if !jar.0.is_empty() {
        req = req.header("Cookie", jar.header());
    }
    let mut resp = req.call().unwrap();
    jar.take(&resp);
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

fn post(
    agent: &Agent,
    addr: SocketAddr,
    path: &str,
    jar: &mut Jar,
    form: &[(&str, &str)],
) -> Response<Body> {
    let mut req = agent.post(format!("http://{addr}{path}"));
    if !jar.0.is_empty() {
        req = req.header("Cookie", jar.header());
    }
    let resp = req.send_form(form.iter().copied()).unwrap();
    jar.take(&resp);
    resp
}

/// The value of the hidden CSRF field in a rendered form.
fn form_token(html: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).expect("no csrf field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

#[test]
fn three_steps_with_cookies() {
    let addr = start();
    let agent = agent();
    let mut jar = Jar::default();

    // Start page.
    let (status, body) = get(&agent, addr, "/", &mut jar);
    assert_eq!(status, 200);
    assert!(body.starts_with("<!doctype html>"));
    assert!(body.contains("href=\"/step1\""));

    // Step 1: session and CSRF cookies are set, the form carries the token.
    let mut resp = agent.get(format!("http://{addr}/step1")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let cookies = set_cookies(&resp);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("sessionid="))
        .expect("no session cookie");
    assert!(session.contains("; Path=/"), "{session}");
    assert!(session.contains("; HttpOnly"), "{session}");
    assert!(session.contains("; SameSite=Lax"), "{session}");
    let id = &session["sessionid=".len()..session.find(';').unwrap()];
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("csrftoken="))
        .expect("no csrf cookie");
    assert!(
        csrf.contains("; Path=/") && csrf.contains("; SameSite=Lax"),
        "{csrf}"
    );
    jar.take(&resp);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("<title>"));
    assert!(body.contains("action=\"/step1\""));
    assert!(body.contains("method=\"post\""));
    let token = form_token(&body);
    assert_eq!(jar.0["csrftoken"], token);

    // Revisiting with cookies does not mint new ones.
    let mut again = agent
        .get(format!("http://{addr}/step1"))
        .header("Cookie", jar.header())
        .call()
        .unwrap();
    assert!(set_cookies(&again).is_empty());
    assert_eq!(
        form_token(&again.body_mut().read_to_string().unwrap()),
        token
    );

    let name = "<Ann & \"Bob\" O'Neil>";
    let email = "ann@example.test";
    let resp = post(
        &agent,
        addr,
        "/step1",
        &mut jar,
        &[("csrfmiddlewaretoken", &token), ("name", name)],
    );
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers().get("location").unwrap(), "/step2");

    // Step 2 greets by (escaped) name, links back to step 1.
    let (status, body) = get(&agent, addr, "/step2", &mut jar);
    assert_eq!(status, 200);
    assert!(
        body.contains("&lt;Ann &amp; &quot;Bob&quot; O&#x27;Neil&gt;"),
        "{body}"
    );
    assert!(!body.contains(name));
    assert!(body.contains("action=\"/step2\""));
    assert!(body.contains("href=\"/step1\""));
    let token2 = form_token(&body);
    assert_eq!(token2, token);

    let resp = post(
        &agent,
        addr,
        "/step2",
        &mut jar,
        &[("csrfmiddlewaretoken", &token2), ("email", email)],
    );
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers().get("location").unwrap(), "/confirm");

    // Confirmation shows both, escaped, and a way to start again.
    let (status, body) = get(&agent, addr, "/confirm", &mut jar);
    assert_eq!(status, 200);
    assert!(
        body.contains("<p id=\"name\">&lt;Ann &amp; &quot;Bob&quot; O&#x27;Neil&gt;</p>"),
        "{body}"
    );
    assert!(
        body.contains("<p id=\"email\">ann@example.test</p>"),
        "{body}"
    );
    assert!(body.contains("href=\"/step1\">start again</a>"));

    // Step 1 is pre-filled from the session.
    let (_, body) = get(&agent, addr, "/step1", &mut jar);
    assert!(body.contains("value=\"&lt;Ann &amp; &quot;Bob&quot; O&#x27;Neil&gt;\""));
}

#[test]
fn lost_session_is_reported() {
    let addr = start();
    let agent = agent();

    for path in ["/step2", "/confirm"] {
        // No cookies at all.
        let (status, body) = get(&agent, addr, path, &mut Jar::default());
        assert_eq!(status, 200);
        assert!(body.contains("No name in your session"), "{path}: {body}");
        assert!(body.contains("href=\"/step1\""));
        assert!(!body.contains("<p id=\"name\">"));

        // A session id the server does not know.
        let mut jar = Jar::default();
        jar.0.insert("sessionid".into(), "0".repeat(32));
        let (_, body) = get(&agent, addr, path, &mut jar);
        assert!(body.contains("No name in your session"), "{path}: {body}");
    }

    // A session from step 1 that never got a name.
    let mut jar = Jar::default();
    get(&agent, addr, "/step1", &mut jar);
    let (_, body) = get(&agent, addr, "/confirm", &mut jar);
    assert!(body.contains("No name in your session"));
}

#[test]
fn csrf_is_enforced() {
    let addr = start();
    let agent = agent();
    let mut jar = Jar::default();
    let (_, body) = get(&agent, addr, "/step1", &mut jar);
    let token = form_token(&body);

    for path in ["/step1", "/step2"] {
        // Field but no CSRF cookie (session cookie only).
        let mut no_csrf = Jar::default();
        no_csrf
            .0
            .insert("sessionid".into(), jar.0["sessionid"].clone());
        let mut resp = post(
            &agent,
            addr,
            path,
            &mut no_csrf,
            &[
                ("csrfmiddlewaretoken", &token),
                ("name", "x"),
                ("email", "x@y"),
            ],
        );
        assert_eq!(resp.status().as_u16(), 403, "{path}");
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            "CSRF check failed"
        );
        assert!(resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain"));

        // Cookie but no field.
        let mut resp = post(
            &agent,
            addr,
            path,
            &mut jar,
            &[("name", "x"), ("email", "x@y")],
        );
        assert_eq!(resp.status().as_u16(), 403, "{path}");
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            "CSRF check failed"
        );

        // Cookie and field disagree.
        let mut resp = post(
            &agent,
            addr,
            path,
            &mut jar,
            &[
                ("csrfmiddlewaretoken", &"f".repeat(32)),
                ("name", "x"),
                ("email", "x@y"),
            ],
        );
        assert_eq!(resp.status().as_u16(), 403, "{path}");
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            "CSRF check failed"
        );

        // Nothing at all (a body that is not even a form).
        let mut resp = agent
            .post(format!("http://{addr}{path}"))
            .send("not a form")
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{path}");
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            "CSRF check failed"
        );
    }

    // None of that stored anything.
    let (_, body) = get(&agent, addr, "/confirm", &mut jar);
    assert!(body.contains("No name in your session"));
}

#[test]
fn empty_name_rerenders_form() {
    let addr = start();
    let agent = agent();
    let mut jar = Jar::default();
    let (_, body) = get(&agent, addr, "/step1", &mut jar);
    let token = form_token(&body);
    let mut resp = post(
        &agent,
        addr,
        "/step1",
        &mut jar,
        &[("csrfmiddlewaretoken", &token), ("name", "   ")],
    );
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("Please enter your name"));
    assert!(body.contains("action=\"/step1\""));
}

#[test]
fn healthz_and_echo() {
    let addr = start();
    let agent = agent();

    let mut resp = agent.get(format!("http://{addr}/healthz")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "ok");

    let mut resp = agent
        .get(format!("http://{addr}/echo?a=1&b=%20"))
        .header("X-Test", "hello")
        .header("Cookie", "a=b")
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.body_mut().read_to_string().unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("GET /echo?a=1&b=%20 HTTP/1.1"));
    let rest: Vec<&str> = lines.collect();
    assert!(rest.contains(&"x-test: hello"), "{text}");
    assert!(rest.contains(&"cookie: a=b"), "{text}");
    assert!(
        rest.iter().any(|l| l.starts_with("host: 127.0.0.1:")),
        "{text}"
    );
    assert!(!rest.contains(&""), "GET echo has no blank line: {text}");

    let mut resp = agent
        .post(format!("http://{addr}/echo?x"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("name=a%20b&csrfmiddlewaretoken=t")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(text.starts_with("POST /echo?x HTTP/1.1\n"), "{text}");
    assert!(text.contains("\ncontent-type: application/x-www-form-urlencoded\n"));
    let (_, body) = text.split_once("\n\n").unwrap();
    assert_eq!(body, "name=a%20b&csrfmiddlewaretoken=t");

    let resp = agent.get(format!("http://{addr}/nope")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

/// Browsers open idle pre-connections; they must not block other requests.
#[test]
fn idle_connections_do_not_block() {
    let addr = start();
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    let mut resp = agent()
        .get(format!("http://{addr}/healthz"))
        .call()
        .unwrap();
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "ok");

    // The half-sent request still completes.
    half.write_all(b"Connection: close\r\n\r\n").unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    half.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("ok"), "{out}");
    drop(idle);
}

/// The binary prints its address, serves, and exits on SIGTERM even with an
/// idle connection open.
#[cfg(unix)]
#[test]
fn binary_runs_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let exe = env!("CARGO_BIN_EXE_demo");

    let help = Command::new(exe).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--listen"));

    let bad = Command::new(exe).arg("--bogus").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));

    let mut child = Command::new(exe)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("DEMO_LISTEN")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("demo listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();

    let mut resp = agent()
        .get(format!("http://{addr}/healthz"))
        .call()
        .unwrap();
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "ok");
    let _idle = TcpStream::connect(addr).unwrap();

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("demo did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
