//! Where session jars live, behind one trait: `shared_data` (inside Envoy, the default) and `grpc`
//! (the session service, for a fleet of Envoys).

pub mod shared_data;

use crate::cookies::JarChange;
use crate::host::Host;
use crate::jar::Jar;
use crate::token::SessionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The backend did not answer or failed.
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

/// A synchronous store: the answer is there when the call returns.
pub trait SessionStore {
    /// Reads the jar of a session and counts it as used (sliding idle timeout).
    fn load(&self, host: &dyn Host, id: SessionId) -> Result<Loaded, StoreError>;
    /// Applies changes to the jar as it is now in the store (not as it was loaded), so two
    /// concurrent requests of one session both keep their cookies. Returns the resulting jar.
    fn update(&self, host: &dyn Host, id: SessionId, changes: &[JarChange]) -> Result<Jar, StoreError>;
}
