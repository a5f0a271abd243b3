//! The demo app binary (`cargo build --release -p cookieless-demo`), on a free port.

use crate::{artefact, free_port, wait_until, Client, Proc};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn demo_bin() -> PathBuf {
    artefact("release/demo", "demo app")
}

/// The demo app binary, on a free port.
pub struct Demo {
    pub port: u16,
    _proc: Proc,
}

impl Demo {
    pub fn start() -> Demo {
        let port = free_port();
        let proc = Proc::spawn(
            "demo",
            Command::new(demo_bin())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null()),
        );
        let url = format!("http://127.0.0.1:{port}/healthz");
        wait_until("the demo app", Duration::from_secs(30), || Client::new().get(&url).status == 200);
        Demo { port, _proc: proc }
    }
}

