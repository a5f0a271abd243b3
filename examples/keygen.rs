//! Prints a new random 32-byte key, standard base64, for the `keys[].secret` setting.
//!
//! `cargo run --example keygen` — the output is a secret: put it in the config or a VM
//! environment variable (`secret_env`), never in a log.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut secret = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut secret) {
        eprintln!("keygen: the system random source failed: {e}");
        return ExitCode::FAILURE;
    }
    let line = format!("{}\n", STANDARD.encode(secret));
    // Write explicitly so a closed stdout is reported rather than panicking in println!.
    match std::io::stdout().lock().write_all(line.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keygen: cannot write the key: {e}");
            ExitCode::FAILURE
        }
    }
}
