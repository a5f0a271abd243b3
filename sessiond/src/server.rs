//! Process wiring: backend, gRPC server, health service, background tasks, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use tracing::{info, warn};

use crate::config::Args;
use crate::memory::{Evictions, MemoryStore};
use crate::pb::session_store_server::SessionStoreServer;
use crate::pb::SERVICE;
use crate::redis_conn::{Auth, Conn};
use crate::redis_store::RedisStore;
use crate::service::SessionService;
use crate::store::Store;

/// Largest request message the server decodes. Above the 64 KiB jar limit so that an oversized jar
/// gets a clear INVALID_ARGUMENT; anything larger still is refused by gRPC itself
/// (OUT_OF_RANGE) before it is decoded.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// How often the memory backend drops expired sessions, and the Redis backend checks Redis for the
/// health service.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the service until SIGINT or SIGTERM. Errors are one-line reasons for the operator.
pub async fn run(args: Args) -> Result<(), String> {
    args.validate()?;
    let args = Arc::new(args);
    let store = Arc::new(open_store(&args)?);

    let (reporter, health_service) = tonic_health::server::health_reporter();
    set_health(&reporter, ServingStatus::Serving).await;
    let listener = listen(&args).await?;
    let housekeeping = spawn_housekeeping(store.clone(), reporter.clone());

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let stopped = async move {
        // An error only means the sender is gone, which also means: stop.
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let service = SessionStoreServer::new(SessionService::new(store, args.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let server = Server::builder()
        .add_service(health_service)
        .add_service(service)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopped,
        );
    tokio::pin!(server);

    let result = tokio::select! {
        r = &mut server => r.map_err(|e| format!("server failed: {e}")),
        () = wait_for_signal() => {
            info!("signal received: finishing calls in flight, then exiting");
            housekeeping.abort();
            set_health(&reporter, ServingStatus::NotServing).await;
            let _ = stop_tx.send(true);
            drain(&mut server, args.shutdown_timeout_ms).await
        }
    };
    housekeeping.abort();
    if result.is_ok() {
        info!("stopped");
    }
    result
}

/// The backend the arguments name.
fn open_store(args: &Args) -> Result<Store, String> {
    let Some(target) = args.redis_target()? else {
        let max = usize::try_from(args.max_sessions).unwrap_or(usize::MAX);
        return Ok(Store::Memory(MemoryStore::new(max)));
    };
    let auth = Auth {
        username: args.redis_username.clone(),
        password: args.redis_password.clone(),
        sentinel_password: args.sentinel_password.clone(),
    };
    let conn = Conn::open(&target, &auth, args.redis_timeout())?;
    Ok(Store::Redis(RedisStore::new(
        conn,
        &args.key_prefix,
        args.redis_timeout(),
        args.redis_wait_replicas,
    )))
}

/// Binds the listening address and logs what the service runs with.
async fn listen(args: &Args) -> Result<tokio::net::TcpListener, String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    info!(
        addr = %local,
        backend = ?args.backend,
        max_sessions = args.max_sessions,
        redis_timeout_ms = args.redis_timeout_ms,
        redis_wait_replicas = args.redis_wait_replicas,
        "cookieless-sessiond listening"
    );
    Ok(listener)
}

/// After the stop signal: lets the calls in flight finish, for at most the shutdown timeout.
async fn drain<F, E>(server: &mut std::pin::Pin<&mut F>, timeout_ms: u64) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(Duration::from_millis(timeout_ms), server).await {
        Ok(r) => r.map_err(|e| format!("server failed: {e}")),
        Err(_) => {
            warn!(timeout_ms, "calls still in flight at the shutdown timeout; exiting anyway");
            Ok(())
        }
    }
}

async fn set_health(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(SERVICE, status).await;
}

/// Memory: drop expired sessions every second (they are also dropped lazily on each call), and
/// log the eviction counters when they changed. Redis: ping every second (on a Cluster, every
/// primary); the health service says NOT_SERVING while Redis is unreachable (on a Cluster, while
/// some slots have no primary that answers), and the pings keep the connection manager
/// reconnecting even when no calls arrive.
fn spawn_housekeeping(store: Arc<Store>, reporter: HealthReporter) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut up: Option<bool> = None;
        let mut logged = Evictions::default();
        loop {
            tick.tick().await;
            match &*store {
                Store::Memory(m) => {
                    m.purge_expired();
                    log_evictions(m, &mut logged);
                }
                Store::Redis(_) => check_redis(&store, &reporter, &mut up).await,
            }
        }
    })
}

/// The service has no metrics endpoint: its eviction counters go to the log, at most once a
/// housekeeping tick and only when they changed (a full store under a flood logs once a second).
fn log_evictions(m: &MemoryStore, logged: &mut Evictions) {
    let now = m.evictions();
    if now != *logged {
        info!(
            evicted_one_shot = now.one_shot,
            evicted_resumed = now.resumed,
            sessions = m.len(),
            "store full: sessions evicted so far"
        );
        *logged = now;
    }
}

/// One health ping of Redis; logs and reports a change of reachability.
async fn check_redis(store: &Store, reporter: &HealthReporter, up: &mut Option<bool>) {
    let now_up = match store.ping().await {
        Ok(()) => true,
        Err(e) => {
            if *up != Some(false) {
                warn!(error = %e, "redis unreachable: calls answer UNAVAILABLE, health says NOT_SERVING");
            }
            false
        }
    };
    if *up != Some(now_up) {
        if now_up {
            info!("redis reachable: health says SERVING");
        }
        let status = if now_up {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        set_health(reporter, status).await;
        *up = Some(now_up);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    () = ctrl_c => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
