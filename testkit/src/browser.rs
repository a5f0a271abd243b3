//! A headless Chromium driven over W3C WebDriver by chromedriver, shared by the browser tests.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (or `CHROMIUM_BIN` / `CHROMEDRIVER_BIN`).
//! chromedriver is started on a free loopback port; the client is a few plain WebDriver calls over
//! `ureq` (no extra dependency). Every call has a timeout. Dropping the [`Browser`] ends the session,
//! stops chromedriver by its PID and then any of its descendants still alive, by their PIDs.

use crate::{free_port, root, wait_until, Proc, TempDir};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const POLICY_DIR: &str = "/etc/chromium/policies/managed";
pub const POLICY_FILE: &str = "cookieless-test.json";
/// How long one WebDriver call may take (a page load is bounded tighter, by the session's timeouts).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a page may take to arrive after a navigation or a click.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The W3C name of an element reference in WebDriver JSON.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Makes sure Chromium blocks all cookies: the managed policy file, written if missing (as root).
pub fn ensure_cookie_policy() {
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
pub fn find_binary(env: &str, names: &[&str]) -> PathBuf {
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
pub struct Browser {
    base: String,
    session: String,
    pub version: String,
    agent: ureq::Agent,
    driver: Proc,
    /// Chromium's fresh profile and chromedriver's log; removed on drop (kept when the test fails).
    _profile: TempDir,
}

impl Browser {
    pub fn start(chromium: &Path, chromedriver: &Path) -> Browser {
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
        let agent = crate::http::agent(CALL_TIMEOUT);
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
    pub fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        call(&self.agent, method, &url, body).unwrap_or_else(|e| self.fail(&format!("WebDriver {method} {path}: {e}")))
    }

    pub fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    pub fn script(&self, script: &str) -> Value {
        self.cmd("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    /// One WebDriver command of this session, its error returned rather than failing the test.
    pub fn try_cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        call(&self.agent, method, &url, body).map_err(|e| format!("WebDriver {method} {path}: {e}"))
    }

    /// Navigates and waits for the load (the session's page load strategy is "normal").
    pub fn try_go(&self, url: &str) -> Result<(), String> {
        self.try_cmd("POST", "/url", Some(&json!({ "url": url }))).map(drop)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub fn try_script(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.try_cmd("POST", "/execute/sync", Some(&json!({"script": script, "args": args})))
    }

    /// Closes every window but the one WebDriver is on (links with a target may open some).
    pub fn close_other_windows(&self) -> Result<(), String> {
        let current = self.try_cmd("GET", "/window", None)?;
        let handles = self.try_cmd("GET", "/window/handles", None)?;
        for handle in handles.as_array().into_iter().flatten().filter(|h| **h != current) {
            self.try_cmd("POST", "/window", Some(&json!({ "handle": handle })))?;
            self.try_cmd("DELETE", "/window", None)?;
        }
        self.try_cmd("POST", "/window", Some(&json!({ "handle": current }))).map(drop)
    }

    pub fn body_text(&self) -> String {
        let text = self.script("return document.body ? document.body.innerText : '';");
        text.as_str().unwrap_or_default().to_string()
    }

    pub fn find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let found = call(&self.agent, "POST", &url, Some(&json!({"using": "css selector", "value": css}))).ok()?;
        found[ELEMENT_KEY].as_str().map(str::to_string)
    }

    pub fn exists(&self, css: &str) -> bool {
        self.find(css).is_some()
    }

    pub fn element(&self, css: &str) -> String {
        self.find(css).unwrap_or_else(|| self.fail(&format!("no element {css} on the page")))
    }

    pub fn text_of(&self, css: &str) -> String {
        let id = self.element(css);
        self.cmd("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or_default().to_string()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(&json!({})));
        self.cmd("POST", &format!("/element/{id}/value"), Some(&json!({ "text": text })));
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    /// Polls `check` until it gives a value, for at most PAGE_TIMEOUT.
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&Browser) -> Option<T>) -> T {
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
    pub fn expect_page(&self, path: &str, css: &str, text: &str) {
        self.wait_for(&format!("{path} with {css} = {text:?}"), |b| {
            let url = b.url();
            let at_path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
            let at_path = at_path.is_some_and(|p| p == path || p.starts_with(&format!("{path}?")));
            let loaded = b.script("return document.readyState;") == json!("complete");
            (at_path && loaded && b.find(css).is_some_and(|_| b.text_of(css) == text)).then_some(())
        });
    }

    /// The page's form carries the filter's token, the only way a cookieless browser keeps its session.
    pub fn expect_session_field(&self, step: &str) {
        let count = self.script("return document.querySelectorAll('form input[name=\"sessionid\"]').length;");
        if count != json!(1) {
            self.fail(&format!("the form at {step} carries {count} sessionid fields instead of 1"));
        }
    }

    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).unwrap()
    }

    /// The browser holds no cookie: none in its store (WebDriver), none for the page
    /// (`document.cookie`), and one the page writes itself does not stick (the policy is in force;
    /// `navigator.cookieEnabled` says true even so).
    pub fn assert_no_cookies(&self, when: &str) {
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
    pub fn fail(&self, why: &str) -> ! {
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

pub fn save_artifact(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = root().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
