//! Session jars in the gRPC session service (`cookieless-sessiond`), shared by a fleet of Envoys.
//!
//! Calls go through Envoy's own gRPC client (`Host::dispatch_grpc`); messages are the prost types
//! of `proto/cookieless/session/v1/session.proto`. A load is one `Get`. An update reads with `Get`,
//! merges the changes ([`Jar::merge`]), and writes with `Put` guarded by the version it read (an
//! unchanged jar is not written: the `Get` already refreshed its idle timeout); when another Envoy
//! wrote in between, it reads again (bounded), so concurrent requests lose no cookie.
//!
//! While a call is out, its [`LoadCall`] or [`UpdateCall`] holds everything the next step needs.

use super::{CallReply, Loaded, Loading, StoreError, Updating};
use crate::cookies::JarChange;
use crate::host::Host;
use crate::jar::Jar;
use crate::proto;
use crate::token::SessionId;
use prost::Message;
use std::sync::Arc;

const MAX_ATTEMPTS: u8 = 4;
const GRPC_OK: u32 = 0;

#[derive(Debug)]
pub struct GrpcStore {
    pub cluster: String,
    pub timeout_ms: u32,
    pub idle_timeout_seconds: u32,
}

/// A load whose `Get` is out.
#[derive(Debug)]
pub struct LoadCall {
    call: u32,
}

/// An update whose `Get`, `Put` or `Delete` is out.
#[derive(Debug)]
pub struct UpdateCall {
    call: u32,
    store: Arc<GrpcStore>,
    id: SessionId,
    changes: Vec<JarChange>,
    attempt: u8,
    /// `None` while reading; the jar being written otherwise.
    writing: Option<Jar>,
}

impl GrpcStore {
    fn dispatch(&self, host: &mut dyn Host, method: &str, message: &[u8]) -> Option<u32> {
        host.dispatch_grpc(&self.cluster, proto::SERVICE, method, message, self.timeout_ms)
    }

    fn get(&self, host: &mut dyn Host, id: SessionId) -> Option<u32> {
        let message = proto::GetRequest { session_id: id.to_hex() }.encode_to_vec();
        self.dispatch(host, proto::METHOD_GET, &message)
    }

    pub(super) fn load(store: &Arc<GrpcStore>, host: &mut dyn Host, id: SessionId) -> Loading {
        match store.get(host, id) {
            Some(call) => Loading::Waiting(LoadCall { call }),
            None => Loading::Done(Err(StoreError::Unavailable)),
        }
    }

    pub(super) fn update(store: &Arc<GrpcStore>, host: &mut dyn Host, id: SessionId, changes: Vec<JarChange>) -> Updating {
        let call = UpdateCall { call: 0, store: Arc::clone(store), id, changes, attempt: 0, writing: None };
        call.read(host)
    }
}

/// The jar a `Get` found: `Ok(None)` when there is none.
fn found_jar(reply: &CallReply) -> Result<Option<(Jar, u64)>, StoreError> {
    if reply.status != GRPC_OK {
        return Err(StoreError::Unavailable);
    }
    let found = proto::GetResponse::decode(reply.body.as_slice()).map_err(|_| StoreError::Unavailable)?;
    if !found.found {
        return Ok(None);
    }
    let jar = Jar::decode(&found.jar).ok_or(StoreError::Corrupt)?;
    Ok(Some((jar, found.version)))
}

impl LoadCall {
    /// The host's id of the call: replies to other calls are not this one's.
    pub fn id(&self) -> u32 {
        self.call
    }

    pub fn on_reply(self, reply: &CallReply) -> Loading {
        Loading::Done(found_jar(reply).map(|found| found.map_or(Loaded::Missing, |(jar, _)| Loaded::Found(jar))))
    }
}

impl UpdateCall {
    pub fn id(&self) -> u32 {
        self.call
    }

    pub fn on_reply(self, host: &mut dyn Host, reply: &CallReply) -> Updating {
        match self.writing {
            None => match found_jar(reply) {
                Ok(found) => self.write(host, found),
                Err(e) => Updating::Done(Err(e)),
            },
            Some(_) if reply.status != GRPC_OK => Updating::Done(Err(StoreError::Unavailable)),
            Some(jar) if jar.is_empty() => Updating::Done(Ok(jar)),
            Some(jar) => match proto::PutResponse::decode(reply.body.as_slice()) {
                Ok(put) if put.stored => Updating::Done(Ok(jar)),
                Ok(_) if self.attempt + 1 < MAX_ATTEMPTS => UpdateCall { attempt: self.attempt + 1, writing: None, ..self }.read(host),
                Ok(_) => Updating::Done(Err(StoreError::Contended)),
                Err(_) => Updating::Done(Err(StoreError::Unavailable)),
            },
        }
    }

    fn read(self, host: &mut dyn Host) -> Updating {
        match self.store.get(host, self.id) {
            Some(call) => Updating::Waiting(UpdateCall { call, ..self }),
            None => Updating::Done(Err(StoreError::Unavailable)),
        }
    }

    /// Writes the merged jar, guarded by the version read; an empty jar ends the session.
    fn write(self, host: &mut dyn Host, found: Option<(Jar, u64)>) -> Updating {
        let exists = found.is_some();
        let (stored, version) = found.unwrap_or_default();
        let (jar, changed) = Jar::merge(stored, &self.changes);
        if !changed {
            return Updating::Done(Ok(jar));
        }
        if !jar.fits() {
            return Updating::Done(Err(StoreError::TooLarge));
        }
        let id = self.id.to_hex();
        let (method, message) = if jar.is_empty() {
            (proto::METHOD_DELETE, proto::DeleteRequest { session_id: id }.encode_to_vec())
        } else {
            let idle_timeout_seconds = self.store.idle_timeout_seconds;
            let expected_version = if exists { version } else { 0 };
            let put = proto::PutRequest { session_id: id, jar: jar.encode(), idle_timeout_seconds, expected_version };
            (proto::METHOD_PUT, put.encode_to_vec())
        };
        match self.store.dispatch(host, method, &message) {
            Some(call) => Updating::Waiting(UpdateCall { call, writing: Some(jar), ..self }),
            None => Updating::Done(Err(StoreError::Unavailable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mock::MockHost;

    fn store() -> Arc<GrpcStore> {
        Arc::new(GrpcStore { cluster: "sessiond".into(), timeout_ms: 200, idle_timeout_seconds: 600 })
    }

    fn loading(progress: Loading) -> LoadCall {
        match progress {
            Loading::Waiting(p) => p,
            Loading::Done(o) => panic!("expected a call, got {o:?}"),
        }
    }

    fn updating(progress: Updating) -> UpdateCall {
        match progress {
            Updating::Waiting(p) => p,
            Updating::Done(o) => panic!("expected a call, got {o:?}"),
        }
    }

    fn ok(message: impl Message) -> CallReply {
        CallReply { status: 0, body: message.encode_to_vec() }
    }

    fn jar_with(name: &str, value: &str) -> Jar {
        let mut jar = Jar::default();
        jar.apply(JarChange::set(name, value));
        jar
    }

    fn set(name: &str, value: &str) -> Vec<JarChange> {
        vec![JarChange::set(name, value)]
    }

    #[test]
    fn a_load_is_one_get() {
        let (store, mut host) = (store(), MockHost::default());
        let call = loading(GrpcStore::load(&store, &mut host, SessionId([7; 16])));
        let (cluster, method, message) = host.grpc_calls.borrow().last().cloned().unwrap();
        assert_eq!((cluster.as_str(), method.as_str()), ("sessiond", "Get"));
        assert_eq!(proto::GetRequest::decode(message.as_slice()).unwrap().session_id, "07".repeat(16));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 3 };
        let done = call.on_reply(&ok(found));
        assert!(matches!(done, Loading::Done(Ok(Loaded::Found(j))) if j == jar_with("a", "1")));
    }

    #[test]
    fn an_update_reads_then_writes_with_the_version_it_read() {
        let (store, mut host) = (store(), MockHost::default());
        let call = updating(GrpcStore::update(&store, &mut host, SessionId([1; 16]), set("b", "2")));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 9 };
        let call = updating(call.on_reply(&mut host, &ok(found)));
        let (_, method, message) = host.grpc_calls.borrow().last().cloned().unwrap();
        assert_eq!(method, "Put");
        let put = proto::PutRequest::decode(message.as_slice()).unwrap();
        assert_eq!((put.expected_version, put.idle_timeout_seconds), (9, 600));
        let written = Jar::decode(&put.jar).unwrap();
        assert_eq!((written.get("a"), written.get("b")), (Some("1"), Some("2")));
        let done = call.on_reply(&mut host, &ok(proto::PutResponse { stored: true, version: 10 }));
        assert!(matches!(done, Updating::Done(Ok(j)) if j == written));
    }

    #[test]
    fn an_unchanged_jar_is_not_written_again() {
        let (store, mut host) = (store(), MockHost::default());
        let call = updating(GrpcStore::update(&store, &mut host, SessionId([1; 16]), set("a", "1")));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 4 };
        let done = call.on_reply(&mut host, &ok(found));
        assert!(matches!(done, Updating::Done(Ok(j)) if j == jar_with("a", "1")));
        assert_eq!(host.grpc_calls.borrow().len(), 1, "only the Get");
    }

    #[test]
    fn a_lost_compare_and_set_reads_again_then_gives_up() {
        let (store, mut host) = (store(), MockHost::default());
        let mut call = updating(GrpcStore::update(&store, &mut host, SessionId([1; 16]), set("b", "2")));
        for _ in 0..MAX_ATTEMPTS {
            call = updating(call.on_reply(&mut host, &ok(proto::GetResponse::default())));
            match call.on_reply(&mut host, &ok(proto::PutResponse { stored: false, version: 0 })) {
                Updating::Waiting(p) => call = p,
                Updating::Done(outcome) => {
                    assert_eq!(outcome, Err(StoreError::Contended));
                    assert_eq!(host.grpc_calls.borrow().len(), 2 * usize::from(MAX_ATTEMPTS));
                    return;
                }
            }
        }
        panic!("never gave up");
    }

    #[test]
    fn deleting_the_last_cookie_deletes_the_session() {
        let (store, mut host) = (store(), MockHost::default());
        let change = vec![JarChange::delete("a")];
        let call = updating(GrpcStore::update(&store, &mut host, SessionId([1; 16]), change));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 2 };
        let call = updating(call.on_reply(&mut host, &ok(found)));
        assert_eq!(host.grpc_calls.borrow().last().unwrap().1, "Delete");
        let done = call.on_reply(&mut host, &ok(proto::DeleteResponse {}));
        assert!(matches!(done, Updating::Done(Ok(j)) if j.is_empty()));
    }

    #[test]
    fn errors_and_garbage_are_unavailable_and_a_corrupt_jar_is_corrupt() {
        let (store, mut host) = (store(), MockHost::default());
        let call = loading(GrpcStore::load(&store, &mut host, SessionId([1; 16])));
        assert!(matches!(call.on_reply(&CallReply { status: 14, body: vec![] }), Loading::Done(Err(StoreError::Unavailable))));
        let call = loading(GrpcStore::load(&store, &mut host, SessionId([1; 16])));
        assert!(matches!(call.on_reply(&CallReply { status: 0, body: vec![0xff; 7] }), Loading::Done(Err(StoreError::Unavailable))));
        let corrupt = proto::GetResponse { found: true, jar: vec![0xff, 0xfe], version: 1 };
        let call = loading(GrpcStore::load(&store, &mut host, SessionId([1; 16])));
        assert!(matches!(call.on_reply(&ok(corrupt.clone())), Loading::Done(Err(StoreError::Corrupt))));
        let call = updating(GrpcStore::update(&store, &mut host, SessionId([1; 16]), set("a", "1")));
        assert!(matches!(call.on_reply(&mut host, &ok(corrupt)), Updating::Done(Err(StoreError::Corrupt))));
        host.grpc_refuse = true;
        assert!(matches!(GrpcStore::load(&store, &mut host, SessionId([1; 16])), Loading::Done(Err(StoreError::Unavailable))));
    }
}
