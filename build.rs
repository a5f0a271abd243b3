//! Build script of the filter crate: generates the protobuf message types of the session service
//! protocol (`proto/cookieless/session/v1/session.proto`) for `src/proto.rs`.
//!
//! Messages only: no gRPC client or server code. The filter encodes requests and decodes responses
//! with prost and sends them through Envoy's own gRPC client (proxy-wasm `dispatch_grpc_call`).
//! The .proto is compiled by `protox` (pure Rust), so no `protoc` needs to be installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("proto");
    let proto_file = proto_root
        .join("cookieless")
        .join("session")
        .join("v1")
        .join("session.proto");
    // Only the .proto (and this script) can change the output: never rerun for other edits.
    println!("cargo:rerun-if-changed={}", proto_file.display());
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile([&proto_file], [&proto_root])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
