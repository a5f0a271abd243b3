//! The real-browser proof: headless Chromium with every cookie blocked by managed policy walks the
//! demo app's three-step form through Envoy + the filter and gets to the confirmation page; the same
//! browser straight at the app cannot get past step 1 (the app's CSRF check fails, as its cookies
//! were never stored).
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (or `CHROMIUM_BIN` / `CHROMEDRIVER_BIN`),
//! and the policy file `/etc/chromium/policies/managed/cookieless-test.json` containing
//! `{"DefaultCookiesSetting": 2}`; the test writes that file itself when it is missing and it runs as
//! root (it leaves it in place). Missing pieces make the test fail, never skip.
//!
//! Chromium is driven over WebDriver by chromedriver, started on a free loopback port; the client is
//! a few plain W3C WebDriver calls over `ureq` (no extra dependency). Every call has a timeout.
//! Artifacts: `test-artifacts/browser-confirm.png` (and a copy in `docs/browser-confirm.png`); on a
//! failure, `test-artifacts/browser-failure.{png,html}` show the page the browser was on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use base64::Engine as _;
use common::{filter_config, free_port, root, wait_until, Client, Demo, Envoy, Proc, TempDir};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const POLICY_DIR: &str = "/etc/chromium/policies/managed";
const POLICY_FILE: &str = "cookieless-test.json";
/// How long one WebDriver call may take (a page load is bounded tighter, by the session's timeouts).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a page may take to arrive after a navigation or a click.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The W3C name of an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

const NAME: &str = "Ada Lovelace";
const EMAIL: &str = "ada@example.org";

#[test]
fn a_browser_that_stores_no_cookies_finishes_the_demo_form_only_through_the_filter() {
    let started = Instant::now();
    ensure_cookie_policy();
    let chromium = find_binary("CHROMIUM_BIN", &["chromium", "chromium-browser"]);
    let chromedriver = find_binary("CHROMEDRIVER_BIN", &["chromedriver"]);

    let demo = Demo::start();
    let envoy = Envoy::start(filter_config(json!({})), demo.port);
    let servers_ready = started.elapsed();
    let browser = Browser::start(&chromium, &chromedriver);
    eprintln!(
        "demo + Envoy ready in {servers_ready:?}; {} under chromedriver in {:?} more",
        browser.version,
        started.elapsed() - servers_ready
    );

    // (1) Through Envoy and the filter: the whole form, in the browser, by typing and clicking.
    browser.go(&envoy.url("/step1"));
    browser.expect_page("/step1", "h1", "Step 1 of 3");
    browser.expect_session_field("step 1");
    browser.type_into("#name-input", NAME);
    browser.click("button[type=submit]");

    browser.expect_page("/step2", "h1", "Step 2 of 3");
    let url = browser.url();
    if !url.contains("sessionid=") {
        browser.fail(&format!("step 2 was reached without a token in its URL: {url}"));
    }
    if !browser.body_text().contains(&format!("Hello, {NAME}.")) {
        browser.fail("step 2 does not greet the name typed at step 1");
    }
    browser.expect_session_field("step 2");
    browser.type_into("#email-input", EMAIL);
    browser.click("button[type=submit]");

    browser.expect_page("/confirm", "h1", "Step 3 of 3: confirmed");
    let shown_name = browser.text_of("#name");
    let shown_email = browser.text_of("#email");
    if shown_name != NAME || shown_email != EMAIL {
        browser.fail(&format!("the confirmation shows name {shown_name:?} and email {shown_email:?}"));
    }
    let confirm_url = browser.url();
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is not a PNG");
    let artifact = save_artifact("browser-confirm.png", &png);
    let docs = root().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::copy(&artifact, docs.join("browser-confirm.png")).unwrap();
    eprintln!("confirmation at {confirm_url}; screenshot in {} and docs/", artifact.display());
    browser.assert_no_cookies("after the form through the filter");
    envoy.assert_no_panic();

    // (2) The same browser straight at the app: the app does set its cookies, the browser drops
    // them, so the double-submit CSRF check of the first POST fails.
    let direct = format!("http://127.0.0.1:{}", demo.port);
    let offered = Client::new().get(&format!("{direct}/step1"));
    assert!(
        offered.headers_named("set-cookie").iter().any(|c| c.starts_with("csrftoken=")),
        "the app no longer sets its CSRF cookie, so part (2) would prove nothing: {offered:?}"
    );
    browser.go(&format!("{direct}/step1"));
    browser.expect_page("/step1", "h1", "Step 1 of 3");
    browser.type_into("#name-input", NAME);
    browser.click("button[type=submit]");
    browser.wait_for("the app's answer to the POST at step 1", |b| {
        b.body_text().contains("CSRF check failed").then_some(())
    });
    let url = browser.url();
    if !url.ends_with("/step1") {
        browser.fail(&format!("without the filter the browser should stay on the failed POST, not at {url}"));
    }
    if browser.exists("#name-input") || browser.exists("#email-input") {
        browser.fail("the CSRF failure page shows a form");
    }
    browser.assert_no_cookies("after the app set its cookies directly");
    eprintln!("without the filter: 403 \"CSRF check failed\" at {url}; whole test {:?}", started.elapsed());
}

/// Makes sure Chromium blocks all cookies: the managed policy file, written if missing (as root).
fn ensure_cookie_policy() {
    let path = Path::new(POLICY_DIR).join(POLICY_FILE);
    let how = format!("as root: mkdir -p {POLICY_DIR} && echo '{{\"DefaultCookiesSetting\": 2}}' > {}", path.display());
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let policy: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON ({e}); it should be {how}", path.display()));
            assert_eq!(
                policy.get("DefaultCookiesSetting"),
                Some(&json!(2)),
                "{} must block all cookies; fix it {how}",
                path.display()
            );
        }
        Err(_) => {
            let written = std::fs::create_dir_all(POLICY_DIR)
                .and_then(|()| std::fs::write(&path, "{\"DefaultCookiesSetting\": 2}\n"));
            if let Err(e) = written {
                panic!(
                    "Chromium must block all cookies, but {} is missing and cannot be written ({e}); create it {how}",
                    path.display()
                );
            }
            eprintln!("wrote the Chromium policy {} (left in place)", path.display());
        }
    }
}

/// An executable from an environment variable or the PATH; a clear failure when there is none.
fn find_binary(env: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env).map(PathBuf::from) {
        assert!(path.is_file(), "{env}={} does not exist", path.display());
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no {} on the PATH (nor {env} set): the browser test needs Chromium and chromedriver; \
         on Debian: apt-get install -y chromium chromium-driver",
        names.join(" / ")
    );
}

/// A headless Chromium under chromedriver, in one WebDriver session. Dropping it ends the session,
/// stops chromedriver by its PID and then any of its descendants still alive, by their PIDs.
struct Browser {
    base: String,
    session: String,
    version: String,
    agent: ureq::Agent,
    driver: Proc,
    /// Chromium's fresh profile and chromedriver's log; removed on drop (kept when the test fails).
    _profile: TempDir,
}

impl Browser {
    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let profile = TempDir::new("chromium");
        let port = free_port();
        let log = profile.path().join("chromedriver.log");
        let driver = Proc::spawn(
            "chromedriver",
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let status = format!("{base}/status");
        wait_until("chromedriver", Duration::from_secs(20), || {
            call(&agent, "GET", &status, None).is_ok_and(|v| v["ready"] == json!(true))
        });
        let user_data = profile.path().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": PAGE_TIMEOUT.as_millis() as u64, "script": 10_000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=900,600",
                    format!("--user-data-dir={}", user_data.display()),
                ],
            },
        }}});
        let created = call(&agent, "POST", &format!("{base}/session"), Some(&caps));
        let value = created.unwrap_or_else(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!(
                "chromedriver could not start Chromium ({}): {e}\nchromedriver log tail:\n{tail}",
                chromium.display()
            )
        });
        let session = value["sessionId"].as_str().expect("a WebDriver session id").to_string();
        let version = format!("Chromium {}", value["capabilities"]["browserVersion"].as_str().unwrap_or("?"));
        Browser { base, session, version, agent, driver, _profile: profile }
    }

    /// One WebDriver command of this session; a WebDriver error fails the test with the page shown.
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        call(&self.agent, method, &url, body).unwrap_or_else(|e| self.fail(&format!("WebDriver {method} {path}: {e}")))
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    fn script(&self, script: &str) -> Value {
        self.cmd("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    fn body_text(&self) -> String {
        let text = self.script("return document.body ? document.body.innerText : '';");
        text.as_str().unwrap_or_default().to_string()
    }

    fn find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let found = call(&self.agent, "POST", &url, Some(&json!({"using": "css selector", "value": css}))).ok()?;
        found[ELEMENT_KEY].as_str().map(str::to_string)
    }

    fn exists(&self, css: &str) -> bool {
        self.find(css).is_some()
    }

    fn element(&self, css: &str) -> String {
        self.find(css).unwrap_or_else(|| self.fail(&format!("no element {css} on the page")))
    }

    fn text_of(&self, css: &str) -> String {
        let id = self.element(css);
        self.cmd("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or_default().to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(&json!({})));
        self.cmd("POST", &format!("/element/{id}/value"), Some(&json!({ "text": text })));
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    /// Polls `check` until it gives a value, for at most PAGE_TIMEOUT.
    fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&Browser) -> Option<T>) -> T {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("timed out after {PAGE_TIMEOUT:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a fully loaded page at `path` whose `css` element reads `text`.
    fn expect_page(&self, path: &str, css: &str, text: &str) {
        self.wait_for(&format!("{path} with {css} = {text:?}"), |b| {
            let url = b.url();
            let at_path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
            let at_path = at_path.is_some_and(|p| p == path || p.starts_with(&format!("{path}?")));
            let loaded = b.script("return document.readyState;") == json!("complete");
            (at_path && loaded && b.find(css).is_some_and(|_| b.text_of(css) == text)).then_some(())
        });
    }

    /// The page's form carries the filter's token, the only way a cookieless browser keeps its session.
    fn expect_session_field(&self, step: &str) {
        let count = self.script("return document.querySelectorAll('form input[name=\"sessionid\"]').length;");
        if count != json!(1) {
            self.fail(&format!("the form at {step} carries {count} sessionid fields instead of 1"));
        }
    }

    fn screenshot(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).unwrap()
    }

    /// The browser holds no cookie: none in its store (WebDriver), none for the page
    /// (`document.cookie`), and one the page writes itself does not stick (the policy is in force;
    /// `navigator.cookieEnabled` says true even so).
    fn assert_no_cookies(&self, when: &str) {
        let jar = self.cmd("GET", "/cookie", None);
        let document = self.script("return document.cookie;");
        let written = self.script("document.cookie = 'probe=1; path=/'; return document.cookie;");
        if jar != json!([]) || document != json!("") || written != json!("") {
            self.fail(&format!(
                "{when}: the browser keeps cookies: stored {jar}, document.cookie = {document}, after writing one {written}"
            ));
        }
    }

    /// Fails the test showing where the browser is: URL and HTML in the message, and a screenshot and
    /// the HTML in test-artifacts/.
    fn fail(&self, why: &str) -> ! {
        let get = |path: &str| {
            let url = format!("{}/session/{}{path}", self.base, self.session);
            call(&self.agent, "GET", &url, None).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        };
        let (url, html) = (get("/url"), get("/source"));
        if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(get("/screenshot")) {
            save_artifact("browser-failure.png", &png);
        }
        save_artifact("browser-failure.html", html.as_bytes());
        panic!(
            "{why}\nbrowser at: {url}\npage HTML:\n{html}\n(screenshot and HTML in test-artifacts/browser-failure.*)"
        );
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver quits Chromium and reaps it), waits a little for Chromium's
    /// processes to go, then stops chromedriver and kills, by PID, whatever of Chromium is left.
    fn drop(&mut self) {
        let chromium = descendants_of(self.driver.pid());
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = call(&self.agent, "DELETE", &url, None);
        let deadline = Instant::now() + Duration::from_secs(5);
        while chromium.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let late = descendants_of(self.driver.pid());
        self.driver.stop();
        for pid in chromium.into_iter().chain(late) {
            if alive(pid) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
            }
        }
    }
}

/// A process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()))
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// One WebDriver HTTP call: the `value` of the answer, or the WebDriver error as text.
fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<&Value>) -> Result<Value, String> {
    let sent = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        _ => {
            let body = body.map(Value::to_string).unwrap_or_else(|| "{}".into());
            agent.post(url).header("content-type", "application/json").send(body.as_bytes())
        }
    };
    let mut resp = sent.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut bytes = Vec::new();
    resp.body_mut().as_reader().read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let answer: Value = serde_json::from_slice(&bytes).map_err(|e| format!("HTTP {status}, not JSON: {e}"))?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if status == 200 {
        Ok(value)
    } else {
        Err(format!("HTTP {status}: {} {}", value["error"], value["message"]))
    }
}

/// PIDs of every process below `pid`, from /proc.
fn descendants_of(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "PID (comm) STATE PPID ...": the command name may hold spaces and parentheses.
        let ppid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(child);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            found.push(c);
            queue.push(c);
        }
    }
    found
}

fn save_artifact(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = root().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
