//! Session jars in the gRPC session service (`cookieless-sessiond`), shared by a fleet of Envoys.
//!
//! Calls go through Envoy's own gRPC client (`Host::dispatch_grpc`); messages are the prost types
//! of `proto/cookieless/session/v1/session.proto`. A load is one `Get`. An update reads with `Get`,
//! applies the changes, and writes with `Put` guarded by the version it read; when another Envoy
//! wrote in between, it reads again (bounded), so concurrent requests lose no cookie.

use super::{CallReply, Loaded, Outcome, Pending, Progress, Request, SessionStore, Stage, StoreError};
use crate::host::Host;
use crate::jar::Jar;
use crate::proto;
use crate::token::SessionId;
use prost::Message;

const MAX_ATTEMPTS: u8 = 4;
const GRPC_OK: u32 = 0;

pub struct GrpcStore {
    pub cluster: String,
    pub timeout_ms: u32,
    pub idle_timeout_seconds: u32,
}

impl GrpcStore {
    fn call(&self, host: &mut dyn Host, request: Request, stage: Stage, method: &str, message: Vec<u8>) -> Progress {
        match host.dispatch_grpc(&self.cluster, proto::SERVICE, method, &message, self.timeout_ms) {
            Some(call) => Progress::Waiting(Pending { request, call, stage }),
            None => Progress::Done(request.failed(StoreError::Unavailable)),
        }
    }

    fn get(&self, host: &mut dyn Host, request: Request, attempt: u8) -> Progress {
        let id = match &request {
            Request::Load(id) | Request::Update(id, _) => id.to_hex(),
        };
        let message = proto::GetRequest { session_id: id }.encode_to_vec();
        self.call(host, request, Stage::Reading { attempt }, proto::METHOD_GET, message)
    }

    /// Writes the updated jar; an empty jar ends the session.
    fn write(&self, host: &mut dyn Host, request: Request, id: SessionId, found: proto::GetResponse, attempt: u8) -> Progress {
        let Request::Update(_, changes) = &request else {
            return Progress::Done(request.failed(StoreError::Unavailable));
        };
        let mut jar = if found.found { Jar::decode(&found.jar).unwrap_or_default() } else { Jar::default() };
        for change in changes {
            jar.apply(change.clone());
        }
        if !jar.fits() {
            return Progress::Done(Outcome::Updated(Err(StoreError::TooLarge)));
        }
        let (method, message) = if jar.is_empty() {
            (proto::METHOD_DELETE, proto::DeleteRequest { session_id: id.to_hex() }.encode_to_vec())
        } else {
            let put = proto::PutRequest {
                session_id: id.to_hex(),
                jar: jar.encode(),
                idle_timeout_seconds: self.idle_timeout_seconds,
                expected_version: if found.found { found.version } else { 0 },
            };
            (proto::METHOD_PUT, put.encode_to_vec())
        };
        self.call(host, request, Stage::Writing { attempt, jar }, method, message)
    }
}

impl SessionStore for GrpcStore {
    fn start(&self, host: &mut dyn Host, request: Request) -> Progress {
        self.get(host, request, 0)
    }

    fn on_reply(&self, host: &mut dyn Host, pending: Pending, reply: CallReply) -> Progress {
        let Pending { request, stage, .. } = pending;
        if reply.status != GRPC_OK {
            return Progress::Done(request.failed(StoreError::Unavailable));
        }
        match (stage, &request) {
            (Stage::Reading { .. }, Request::Load(_)) => match proto::GetResponse::decode(reply.body.as_slice()) {
                Ok(found) if found.found => {
                    Progress::Done(Outcome::Loaded(Ok(Jar::decode(&found.jar).map_or(Loaded::Missing, Loaded::Found))))
                }
                Ok(_) => Progress::Done(Outcome::Loaded(Ok(Loaded::Missing))),
                Err(_) => Progress::Done(request.failed(StoreError::Unavailable)),
            },
            (Stage::Reading { attempt }, Request::Update(id, _)) => {
                let id = *id;
                match proto::GetResponse::decode(reply.body.as_slice()) {
                    Ok(found) => self.write(host, request, id, found, attempt),
                    Err(_) => Progress::Done(request.failed(StoreError::Unavailable)),
                }
            }
            (Stage::Writing { attempt, jar }, _) => {
                if jar.is_empty() {
                    return Progress::Done(Outcome::Updated(Ok(jar)));
                }
                match proto::PutResponse::decode(reply.body.as_slice()) {
                    Ok(put) if put.stored => Progress::Done(Outcome::Updated(Ok(jar))),
                    Ok(_) if attempt + 1 < MAX_ATTEMPTS => self.get(host, request, attempt + 1),
                    Ok(_) => Progress::Done(request.failed(StoreError::Contended)),
                    Err(_) => Progress::Done(request.failed(StoreError::Unavailable)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::JarChange;
    use crate::host::mock::MockHost;

    fn store() -> GrpcStore {
        GrpcStore { cluster: "sessiond".into(), timeout_ms: 200, idle_timeout_seconds: 600 }
    }

    fn waiting(progress: Progress) -> Pending {
        match progress {
            Progress::Waiting(p) => p,
            Progress::Done(o) => panic!("expected a call, got {o:?}"),
        }
    }

    fn ok(message: impl Message) -> CallReply {
        CallReply { status: 0, body: message.encode_to_vec() }
    }

    fn jar_with(name: &str, value: &str) -> Jar {
        let mut jar = Jar::default();
        jar.apply(JarChange::Set { name: name.into(), value: value.into() });
        jar
    }

    #[test]
    fn a_load_is_one_get() {
        let (store, mut host) = (store(), MockHost::default());
        let pending = waiting(store.start(&mut host, Request::Load(SessionId([7; 16]))));
        let (cluster, method, message) = host.grpc_calls.borrow().last().cloned().unwrap();
        assert_eq!((cluster.as_str(), method.as_str()), ("sessiond", "Get"));
        assert_eq!(proto::GetRequest::decode(message.as_slice()).unwrap().session_id, "07".repeat(16));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 3 };
        let done = store.on_reply(&mut host, pending, ok(found));
        assert!(matches!(done, Progress::Done(Outcome::Loaded(Ok(Loaded::Found(j)))) if j == jar_with("a", "1")));
    }

    #[test]
    fn an_update_reads_then_writes_with_the_version_it_read() {
        let (store, mut host) = (store(), MockHost::default());
        let change = vec![JarChange::Set { name: "b".into(), value: "2".into() }];
        let pending = waiting(store.start(&mut host, Request::Update(SessionId([1; 16]), change)));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 9 };
        let pending = waiting(store.on_reply(&mut host, pending, ok(found)));
        let (_, method, message) = host.grpc_calls.borrow().last().cloned().unwrap();
        assert_eq!(method, "Put");
        let put = proto::PutRequest::decode(message.as_slice()).unwrap();
        assert_eq!((put.expected_version, put.idle_timeout_seconds), (9, 600));
        let written = Jar::decode(&put.jar).unwrap();
        assert_eq!((written.get("a"), written.get("b")), (Some("1"), Some("2")));
        let done = store.on_reply(&mut host, pending, ok(proto::PutResponse { stored: true, version: 10 }));
        assert!(matches!(done, Progress::Done(Outcome::Updated(Ok(j))) if j == written));
    }

    #[test]
    fn a_lost_compare_and_set_reads_again_then_gives_up() {
        let (store, mut host) = (store(), MockHost::default());
        let change = vec![JarChange::Set { name: "b".into(), value: "2".into() }];
        let mut pending = waiting(store.start(&mut host, Request::Update(SessionId([1; 16]), change)));
        for _ in 0..MAX_ATTEMPTS {
            pending = waiting(store.on_reply(&mut host, pending, ok(proto::GetResponse::default())));
            match store.on_reply(&mut host, pending, ok(proto::PutResponse { stored: false, version: 0 })) {
                Progress::Waiting(p) => pending = p,
                Progress::Done(outcome) => {
                    assert_eq!(outcome, Outcome::Updated(Err(StoreError::Contended)));
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
        let change = vec![JarChange::Delete { name: "a".into() }];
        let pending = waiting(store.start(&mut host, Request::Update(SessionId([1; 16]), change)));
        let found = proto::GetResponse { found: true, jar: jar_with("a", "1").encode(), version: 2 };
        let pending = waiting(store.on_reply(&mut host, pending, ok(found)));
        assert_eq!(host.grpc_calls.borrow().last().unwrap().1, "Delete");
        let done = store.on_reply(&mut host, pending, ok(proto::DeleteResponse {}));
        assert!(matches!(done, Progress::Done(Outcome::Updated(Ok(j))) if j.is_empty()));
    }

    #[test]
    fn errors_and_garbage_are_unavailable() {
        let (store, mut host) = (store(), MockHost::default());
        let pending = waiting(store.start(&mut host, Request::Load(SessionId([1; 16]))));
        let failed = store.on_reply(&mut host, pending, CallReply { status: 14, body: vec![] });
        assert!(matches!(failed, Progress::Done(Outcome::Loaded(Err(StoreError::Unavailable)))));
        let pending = waiting(store.start(&mut host, Request::Load(SessionId([1; 16]))));
        let garbage = store.on_reply(&mut host, pending, CallReply { status: 0, body: vec![0xff; 7] });
        assert!(matches!(garbage, Progress::Done(Outcome::Loaded(Err(StoreError::Unavailable)))));
        host.grpc_refuse = true;
        let refused = store.start(&mut host, Request::Load(SessionId([1; 16])));
        assert!(matches!(refused, Progress::Done(Outcome::Loaded(Err(StoreError::Unavailable)))));
    }
}
