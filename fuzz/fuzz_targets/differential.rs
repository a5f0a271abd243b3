//! Differential fuzzing of the streaming rewriter against html5ever (issue 13): any bytes as a
//! page served at http://www.example.com/dir/page (partner.example.com allowed); the oracle shared
//! with tests/rewrite_differential.rs (tests/common/differential.rs) must find no difference
//! between the parsed tree of the input and of the output beyond what the rewriter's rules write
//! (README, "The token never leaves its origin") and its named known limits accept.
//!
//! Run: `make fuzz` (seeds from tests/corpus), or `cargo +nightly fuzz run differential` in fuzz/.
#![no_main]

#[path = "../../tests/common/differential.rs"]
mod differential;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let setup = differential::Setup::new("www.example.com", &["partner.example.com"], "/dir/page");
    if !setup.usable(data) {
        return;
    }
    let output = differential::rewrite(&setup, data);
    let findings = differential::check(&setup, data, &output);
    assert!(
        findings.is_empty(),
        "input:  {:?}\noutput: {:?}\n{}",
        String::from_utf8_lossy(data),
        String::from_utf8_lossy(&output),
        differential::describe(&findings, 8)
    );
});
