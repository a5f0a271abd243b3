//! A real PHP app (PHP's own server, native sessions) through Envoy for a client that keeps no
//! cookies: login with a CSRF token kept in the session, `session_regenerate_id(true)` after it,
//! then a multipart upload of a 300 KB binary file that must arrive byte for byte. A token from
//! before the login opens nothing once the rotation's grace is over.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::{filter_config, free_port, hidden_field, root, wait_until, Client, Envoy, Proc, Reply, TempDir};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

struct PhpApp {
    port: u16,
    uploads: TempDir,
    _sessions: TempDir,
    _proc: Proc,
}

impl PhpApp {
    /// `php -S` serving tests/php/. Fails (never skips) without php-cli (`make test-deps`).
    fn start() -> PhpApp {
        let port = free_port();
        let sessions = TempDir::new("php-sessions");
        let uploads = TempDir::new("php-uploads");
        let proc = Proc::try_spawn(
            "php",
            Command::new("php")
                .arg("-S")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-t")
                .arg(root().join("tests/php"))
                .arg("-d")
                .arg(format!("session.save_path={}", sessions.path().display()))
                .args(["-d", "session.use_strict_mode=1", "-d", "upload_max_filesize=4M", "-d", "post_max_size=8M"])
                .env("UPLOAD_DIR", uploads.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap_or_else(|e| panic!("cannot run php ({e}): this test needs php-cli (Debian: apt-get install -y php-cli)"));
        wait_until("php -S", Duration::from_secs(20), || kit::accepts(port));
        PhpApp { port, uploads, _sessions: sessions, _proc: proc }
    }
}

fn token(reply: &Reply) -> String {
    reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token: {reply:?}")).to_string()
}

/// 300 KB that look like a binary file: every byte value, CR, LF and dashes among them.
fn binary_file() -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..300 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn multipart(boundary: &str, fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn a_php_app_logs_in_regenerates_its_session_and_takes_an_upload_through_the_filter() {
    let app = PhpApp::start();
    let envoy = Envoy::start(filter_config(json!({"rotation": {"grace_seconds": 1}})), app.port);
    let client = Client::new();
    let origin = envoy.url("");

    let form = client.get(&envoy.url("/login.php"));
    assert_eq!(form.status, 200, "{form:?}");
    let before_login = token(&form);
    let csrf = hidden_field(&form.body, "csrf").expect("the login form's CSRF field");
    assert_eq!(hidden_field(&form.body, "sessionid").as_deref(), Some(before_login.as_str()), "{}", form.body);

    let login = client.post_form(
        &envoy.url("/login.php"),
        &format!("user=ada&csrf={csrf}&sessionid={before_login}"),
        &[("origin", &origin)],
    );
    assert_eq!(login.status, 303, "{login:?}");
    let next = login.header("location").unwrap().to_string();
    assert!(next.starts_with("/upload.php?sessionid="), "{next}");
    assert_eq!(envoy.counter("cookieless_sessions_rotated"), 1, "session_regenerate_id rotates");

    let page = client.get(&envoy.url(&next));
    assert!(page.body.contains(r#"<p id="user">ada</p>"#), "{page:?}");
    let logged_in = token(&page);
    let file = binary_file();
    let body = multipart("----cookieless7MA4YWxkTrZu0gW", &[("sessionid", &logged_in), ("note", "hi")], &file);
    let upload = client.post(
        &envoy.url("/upload.php"),
        "multipart/form-data; boundary=----cookieless7MA4YWxkTrZu0gW",
        &body,
        &[("origin", &origin)],
    );
    assert_eq!(upload.status, 200, "{upload:?}");
    assert!(upload.body.contains("user: ada\n") && upload.body.contains("fields: note\n"), "{}", upload.body);
    assert!(upload.body.contains("query: \n"), "{}", upload.body);
    let stored = std::fs::read(app.uploads.path().join("uploaded")).unwrap();
    assert!(stored == file, "the file arrived changed: {} bytes of {}", stored.len(), file.len());

    // The token from before the login (one an attacker could have planted) opens nothing now.
    std::thread::sleep(Duration::from_millis(2500));
    let replay = client.get(&envoy.url(&format!("/upload.php?sessionid={before_login}")));
    assert_eq!(replay.status, 401, "the token from before the login opened the session: {replay:?}");
    let still = client.get(&envoy.url(&format!("/upload.php?sessionid={logged_in}")));
    assert!(still.body.contains(r#"<p id="user">ada</p>"#), "{still:?}");
    envoy.assert_no_panic();
}
