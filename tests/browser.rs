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
//! Chromium is driven over WebDriver by chromedriver, started on a free loopback port; the client
//! (`tests/common/browser.rs`, shared with `tests/browser_hostile.rs`) is a few plain W3C WebDriver
//! calls over `ureq` (no extra dependency). Every call has a timeout.
//! Artifacts: `test-artifacts/browser-confirm.png` (and a copy in `docs/browser-confirm.png`); on a
//! failure, `test-artifacts/browser-failure.{png,html}` show the page the browser was on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::browser::{ensure_cookie_policy, find_binary, save_artifact, Browser};
use kit::{filter_config, root, Client, Demo, Envoy};
use serde_json::json;
use std::time::Instant;

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
