//! The `cookieless.session.v1.SessionStore` gRPC service: request checks, then the backend.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::debug;

use crate::config::Args;
use crate::pb::session_store_server::SessionStore;
use crate::pb::{DeleteRequest, DeleteResponse, GetRequest, GetResponse, PutRequest, PutResponse, SERVICE_MAX_JAR_BYTES};
use crate::store::{valid_session_id, PutOutcome, Store, StoreError};

/// Serves `SessionStore` from a [`Store`].
pub struct SessionService {
    store: Arc<Store>,
    args: Arc<Args>,
}

impl SessionService {
    pub fn new(store: Arc<Store>, args: Arc<Args>) -> Self {
        SessionService { store, args }
    }
}

fn check_session_id(id: &str) -> Result<(), Status> {
    if valid_session_id(id) {
        Ok(())
    } else {
        // The id itself is not echoed: it may be a secret someone mistyped.
        Err(Status::invalid_argument(
            "session_id must be 1 to 64 characters of lowercase hex [0-9a-f]",
        ))
    }
}

fn backend_error(method: &'static str, e: StoreError) -> Status {
    debug!(method, error = %e, "call failed");
    e.into()
}

#[tonic::async_trait]
impl SessionStore for SessionService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let req = request.into_inner();
        check_session_id(&req.session_id)?;
        let found = self
            .store
            .get(&req.session_id)
            .await
            .map_err(|e| backend_error("Get", e))?;
        debug!(method = "Get", found = found.is_some(), "ok");
        Ok(Response::new(match found {
            Some(s) => GetResponse {
                found: true,
                jar: s.jar,
                version: s.version,
            },
            None => GetResponse::default(),
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let req = request.into_inner();
        check_session_id(&req.session_id)?;
        if req.jar.len() > SERVICE_MAX_JAR_BYTES {
            return Err(Status::invalid_argument(format!(
                "jar is {} bytes; the limit is {SERVICE_MAX_JAR_BYTES}",
                req.jar.len()
            )));
        }
        let idle = self.args.effective_idle_timeout(req.idle_timeout_seconds);
        let outcome = self
            .store
            .put(&req.session_id, req.jar, idle, req.expected_version)
            .await
            .map_err(|e| backend_error("Put", e))?;
        let reply = match outcome {
            PutOutcome::Stored(version) => PutResponse {
                stored: true,
                version,
            },
            PutOutcome::Conflict(version) => PutResponse {
                stored: false,
                version,
            },
        };
        debug!(method = "Put", stored = reply.stored, "ok");
        Ok(Response::new(reply))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let req = request.into_inner();
        check_session_id(&req.session_id)?;
        self.store
            .delete(&req.session_id)
            .await
            .map_err(|e| backend_error("Delete", e))?;
        debug!(method = "Delete", "ok");
        Ok(Response::new(DeleteResponse {}))
    }
}
