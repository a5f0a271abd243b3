//! Generates the gRPC server and client for `cookieless.session.v1` from the workspace's `proto/`
//! folder. The .proto is compiled in pure Rust by `protox`: no `protoc` has to be installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("..").join("proto");
    let proto_file = proto_root
        .join("cookieless")
        .join("session")
        .join("v1")
        .join("session.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let fds = protox::compile([&proto_file], [&proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
