//! `demo`: runs the cookieless demo app (an ordinary cookie-session web app).

use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

const HELP: &str = "\
demo - an ordinary cookie-session web app (three-step form) for testing the cookieless filter

USAGE:
    demo [--listen ADDR]

OPTIONS:
    --listen ADDR   address to listen on (default 127.0.0.1:8080; env DEMO_LISTEN).
                    Port 0 picks a free port; the chosen address is printed.
    -h, --help      print this help

ROUTES:
    GET  /                 start page, links to /step1
    GET  /step1            form asking for a name
    POST /step1            stores the name in the session, 303 -> /step2
    GET  /step2            form asking for an email (needs a name in the session)
    POST /step2            stores the email in the session, 303 -> /confirm
    GET  /confirm          shows <p id=\"name\">..</p> and <p id=\"email\">..</p>
    GET  /healthz          200 \"ok\"
    GET  /echo             the request as received (request line, headers), text/plain
    POST /echo             same, then a blank line and the body

Session: server-side, in memory, keyed by cookie `sessionid` (Path=/; HttpOnly; SameSite=Lax).
CSRF: cookie `csrftoken` must equal form field `csrfmiddlewaretoken` on every POST,
otherwise 403 \"CSRF check failed\".

Prints one line \"demo listening on ADDR\" to stdout once ready; exits on SIGINT/SIGTERM.
";

enum Cli {
    Help,
    Run { listen: String },
}

fn parse_args(args: impl Iterator<Item = String>, env: Option<String>) -> Result<Cli, String> {
    let mut listen = None;
    let mut args = args;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "--listen" => match args.next() {
                Some(v) => listen = Some(v),
                None => return Err("--listen needs an address".into()),
            },
            other => match other.strip_prefix("--listen=") {
                Some(v) => listen = Some(v.to_string()),
                None => return Err(format!("unknown argument: {other}")),
            },
        }
    }
    let listen = listen
        .or(env.filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    Ok(Cli::Run { listen })
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called, not when the
/// future is first polled: `main` calls it before printing that it is ready, so a signal right
/// after that line always takes the graceful way (the default action would end the process at
/// once, with no shutdown).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            let (Ok(mut term), Ok(mut int)) = (term, int) else {
                return std::future::pending::<()>().await;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1), std::env::var("DEMO_LISTEN").ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let listen = match cli {
        Cli::Help => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Cli::Run { listen } => listen,
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(listen);
    let shutdown = shutdown_signal();
    println!("demo listening on {addr}");
    match cookieless_demo::serve(listener, shutdown, Duration::from_secs(5)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<String, String> {
        match parse_args(args.iter().map(|s| s.to_string()), env.map(str::to_string))? {
            Cli::Help => Ok("HELP".into()),
            Cli::Run { listen } => Ok(listen),
        }
    }

    #[test]
    fn args() {
        assert_eq!(run(&[], None), Ok(DEFAULT_LISTEN.to_string()));
        assert_eq!(run(&[], Some("")), Ok(DEFAULT_LISTEN.to_string()));
        assert_eq!(run(&[], Some("127.0.0.1:1")), Ok("127.0.0.1:1".into()));
        assert_eq!(
            run(&["--listen", "127.0.0.1:2"], Some("127.0.0.1:1")),
            Ok("127.0.0.1:2".into())
        );
        assert_eq!(run(&["--listen=[::1]:3"], None), Ok("[::1]:3".into()));
        assert_eq!(run(&["--help"], None), Ok("HELP".into()));
        assert_eq!(run(&["-h", "--bogus"], None), Ok("HELP".into()));
        assert!(run(&["--listen"], None).is_err());
        assert!(run(&["--bogus"], None).is_err());
    }
}
