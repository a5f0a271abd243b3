//! Compiles `cookieless/session/v1/session.proto` once, for every user of the protocol:
//!
//! - `cookieless.session.v1.rs`: the prost messages; with the `tonic` feature also the tonic
//!   server and client (`session_store_server`, `session_store_client`);
//! - `names.rs`: the service name and one `METHOD_*` constant per method, taken from the .proto
//!   itself, so that no other file spells them.
//!
//! The .proto is compiled by `protox` (pure Rust), so no `protoc` needs to be installed.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_file = manifest_dir.join("cookieless").join("session").join("v1").join("session.proto");
    // Only the .proto (and this script) can change the output: never rerun for other edits.
    println!("cargo:rerun-if-changed={}", proto_file.display());
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile([&proto_file], [&manifest_dir])?;
    std::fs::write(out_dir.join("names.rs"), names(&fds)?)?;
    // The same prost messages either way; tonic-prost-build adds the service code after them.
    #[cfg(feature = "tonic")]
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    #[cfg(not(feature = "tonic"))]
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}

/// `SERVICE` and the `METHOD_*` constants of the one service the .proto defines.
fn names(fds: &protox::prost_reflect::prost_types::FileDescriptorSet) -> Result<String, String> {
    let [file] = fds.file.as_slice() else {
        return Err(format!("expected one .proto file, got {}", fds.file.len()));
    };
    let [service] = file.service.as_slice() else {
        return Err(format!("expected one service in {}, got {}", file.name(), file.service.len()));
    };
    let package = file.package();
    // Input and output types are fully qualified (`.cookieless.session.v1.GetRequest`).
    let local = |t: &str| t.trim_start_matches('.').trim_start_matches(package).trim_start_matches('.').to_string();
    let mut out = format!(
        "/// Fully qualified gRPC service name: what the filter passes to `dispatch_grpc_call`, and the\n\
         /// service's name in the gRPC health service.\n\
         pub const SERVICE: &str = \"{package}.{}\";\n",
        service.name()
    );
    for method in &service.method {
        let name = method.name();
        let _ = write!(
            out,
            "/// Method `{name}`: [`{}`] → [`{}`].\npub const METHOD_{}: &str = \"{name}\";\n",
            local(method.input_type()),
            local(method.output_type()),
            name.to_ascii_uppercase()
        );
    }
    Ok(out)
}
