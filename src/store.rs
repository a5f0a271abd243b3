//! Where session jars live, behind one trait: `shared_data` (inside Envoy, the default) and `grpc`
//! (the session service, for a fleet of Envoys).
//!
//! A store runs a `Request` to its `Outcome`. A synchronous store is `Done` at once; a remote one
//! answers `Waiting` while its call is out, and is driven on by each reply until it is `Done`.

pub mod grpc;
pub mod shared_data;

use crate::cookies::JarChange;
use crate::host::Host;
use crate::jar::Jar;
use crate::token::SessionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The backend did not answer, answered an error, or timed out.
    Unavailable,
    /// Kept losing the compare-and-set race; the update was not stored.
    Contended,
    /// The jar would exceed the size bound.
    TooLarge,
}

/// What a load found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    Found(Jar),
    Missing,
    /// The session was there but idle for longer than the idle timeout.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read the jar of a session and count it as used (sliding idle timeout).
    Load(SessionId),
    /// Apply changes to the jar as it is now in the store (not as it was loaded), so two
    /// concurrent requests of one session both keep their cookies.
    Update(SessionId, Vec<JarChange>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Loaded(Result<Loaded, StoreError>),
    /// The jar after the update.
    Updated(Result<Jar, StoreError>),
}

impl Request {
    pub fn failed(&self, error: StoreError) -> Outcome {
        match self {
            Request::Load(_) => Outcome::Loaded(Err(error)),
            Request::Update(..) => Outcome::Updated(Err(error)),
        }
    }
}

/// A request whose remote call is out.
#[derive(Debug)]
pub struct Pending {
    pub request: Request,
    /// The host's id of the call: replies to other calls are not this one's.
    pub call: u32,
    stage: Stage,
}

/// How far a remote request has come: an update reads, then writes with compare-and-set, and
/// reads again when another writer came first.
#[derive(Debug)]
enum Stage {
    Reading { attempt: u8 },
    Writing { attempt: u8, jar: Jar },
}

#[derive(Debug)]
pub enum Progress {
    Done(Outcome),
    Waiting(Pending),
}

/// A reply to a remote call: gRPC status (0 = OK) and the response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReply {
    pub status: u32,
    pub body: Vec<u8>,
}

pub trait SessionStore {
    fn start(&self, host: &mut dyn Host, request: Request) -> Progress;

    /// Drives a waiting request on with the reply to its call. Synchronous stores never wait.
    fn on_reply(&self, _host: &mut dyn Host, pending: Pending, _reply: CallReply) -> Progress {
        Progress::Done(pending.request.failed(StoreError::Unavailable))
    }
}
