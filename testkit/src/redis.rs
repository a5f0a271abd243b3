//! A real `redis-server` without persistence on a loopback port it keeps across restarts, so a
//! client pointed at it finds it again. It can be killed, frozen and started again (empty).

use crate::{free_port, retry, NotReady, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Redis {
    // Fields drop in order: the process before its directory.
    proc: Option<Proc>,
    port: u16,
    dir: TempDir,
}

impl Redis {
    /// On a free port. Fails the test (never skips it) when redis-server is not installed.
    pub fn start() -> Redis {
        let mut last = String::new();
        for _ in 0..5 {
            match Redis::try_start_on(free_port()) {
                Ok(redis) => return redis,
                Err(e) => last = e,
            }
        }
        panic!("could not start redis-server: {last}");
    }

    /// On this port (one a client was already told about).
    pub fn start_on(port: u16) -> Redis {
        let mut redis = Redis { proc: None, port, dir: TempDir::new("redis") };
        retry("redis-server", || redis.try_spawn());
        redis
    }

    fn try_start_on(port: u16) -> Result<Redis, String> {
        let mut redis = Redis { proc: None, port, dir: TempDir::new("redis") };
        redis.try_spawn().map(|()| redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let mut proc = Proc::try_spawn(
            "redis-server",
            Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(self.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap_or_else(|e| {
            panic!("cannot run redis-server ({e}): these tests need it (Debian: apt-get install -y redis-server)")
        });
        let port = self.port;
        match proc.wait_ready(Duration::from_secs(10), || ping(port)) {
            Ok(()) => {
                self.proc = Some(proc);
                Ok(())
            }
            Err(NotReady::Exited(status)) => Err(format!("redis-server exited at start ({status}) on port {port}")),
            Err(NotReady::TimedOut) => Err(format!("redis-server did not answer PING on port {port}")),
        }
    }

    fn running(&mut self) -> &mut Proc {
        self.proc.as_mut().unwrap_or_else(|| panic!("redis-server is not running"))
    }

    pub fn pid(&mut self) -> u32 {
        self.running().pid()
    }

    /// SIGKILL, by PID: the sessions it held are gone.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        retry("redis-server", || self.try_spawn());
    }

    /// SIGSTOP: its sockets stay open but nothing is answered.
    pub fn freeze(&mut self) {
        self.running().freeze();
    }

    pub fn thaw(&mut self) {
        self.running().thaw();
    }
}

/// `PING` answered with `+PONG` on this port.
pub fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
