//! Where session jars live: `shared_data` (inside Envoy, the default) and `grpc` (the session
//! service, for a fleet of Envoys).
//!
//! A store does two things, each with its own typed result: [`Store::load`] a session's jar (and
//! count it as used), and [`Store::update`] it with a response's `Set-Cookie` changes. Shared data
//! answers at once; the gRPC store answers [`Loading::Waiting`] / [`Updating::Waiting`] with a
//! call of its own, which the exchange keeps and hands the reply to. A call carries all it needs
//! to go on, so no reply can reach the wrong kind of operation.

pub mod grpc;
pub mod shared_data;

use crate::config;
use crate::cookies::JarChange;
use crate::host::Host;
use crate::jar::Jar;
use crate::token::SessionId;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The backend did not answer, answered an error, or timed out.
    Unavailable,
    /// Kept losing the compare-and-set race; the update was not stored.
    Contended,
    /// The jar would exceed the size bound.
    TooLarge,
    /// The stored jar does not decode: the session is treated as gone (and counted).
    Corrupt,
}

/// What a load found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    Found(Jar),
    Missing,
    /// The session was there but idle for longer than the idle timeout.
    Expired,
}

/// A load: done, or waiting for the reply to its call.
#[derive(Debug)]
pub enum Loading {
    Done(Result<Loaded, StoreError>),
    Waiting(grpc::LoadCall),
}

/// An update: done with the jar as stored after it (empty: the session is gone), or waiting.
#[derive(Debug)]
pub enum Updating {
    Done(Result<Jar, StoreError>),
    Waiting(grpc::UpdateCall),
}

/// A reply to a remote call: gRPC status (0 = OK) and the response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReply {
    pub status: u32,
    pub body: Vec<u8>,
}

/// The configured store.
pub enum Store {
    SharedData(shared_data::SharedDataStore),
    Grpc(Arc<grpc::GrpcStore>),
}

impl Store {
    pub fn from_config(store: &config::Store) -> Store {
        match store {
            config::Store::SharedData { max_sessions, idle_timeout_seconds } => {
                Store::SharedData(shared_data::SharedDataStore::new(*max_sessions, *idle_timeout_seconds))
            }
            config::Store::Grpc { cluster, timeout_ms, idle_timeout_seconds, .. } => Store::Grpc(Arc::new(grpc::GrpcStore {
                cluster: cluster.clone(),
                timeout_ms: *timeout_ms,
                idle_timeout_seconds: *idle_timeout_seconds,
            })),
        }
    }

    /// Reads the jar of a session and counts it as used (sliding idle timeout).
    pub fn load(&self, host: &mut dyn Host, id: SessionId) -> Loading {
        match self {
            Store::SharedData(store) => Loading::Done(store.load(host, id)),
            Store::Grpc(store) => grpc::GrpcStore::load(store, host, id),
        }
    }

    /// Applies `changes` to the jar as it is now in the store (not as it was loaded), so two
    /// concurrent requests of one session both keep their cookies.
    pub fn update(&self, host: &mut dyn Host, id: SessionId, changes: Vec<JarChange>) -> Updating {
        match self {
            Store::SharedData(store) => Updating::Done(store.update(host, id, &changes)),
            Store::Grpc(store) => grpc::GrpcStore::update(store, host, id, changes),
        }
    }
}
