//! Generates the gRPC code of proto/eseal/v1 (needs `protoc`: Debian's protobuf-compiler,
//! which scripts/test.sh installs) and the descriptor set that server reflection serves.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/eseal/v1/common.proto",
        "proto/eseal/v1/signing.proto",
        "proto/eseal/v1/admin.proto",
        "proto/eseal/v1/verification.proto",
        "proto/eseal/v1/audit.proto",
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        // Sealed-document chunks as `bytes::Bytes`: the service sends slices of the document
        // it holds rather than a copy per chunk. (Received chunks stay `Vec<u8>`: a `Bytes`
        // split off the decoder's buffer made it allocate anew for every message, which
        // measured slower than the copy.)
        .bytes(".eseal.v1.SignDocumentResponse.chunk")
        .file_descriptor_set_path(out.join("eseal_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
