//! Generates the gRPC code of proto/eseal/v1 and the descriptor set that server reflection
//! serves. The .proto files are compiled by protox (a protobuf compiler in Rust), so building
//! needs no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "../../proto/eseal/v1/common.proto",
        "../../proto/eseal/v1/signing.proto",
        "../../proto/eseal/v1/admin.proto",
        "../../proto/eseal/v1/verification.proto",
        "../../proto/eseal/v1/audit.proto",
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let mut compiler = protox::Compiler::new(["../../proto"])?;
    compiler.include_source_info(true).include_imports(true).open_files(protos)?;
    std::fs::write(out.join("eseal_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    tonic_prost_build::configure()
        // Sealed-document chunks as `bytes::Bytes`: the service sends slices of the document
        // it holds rather than a copy per chunk. (Received chunks stay `Vec<u8>`: a `Bytes`
        // split off the decoder's buffer made it allocate anew for every message, which
        // measured slower than the copy.)
        .bytes(".eseal.v1.SignDocumentResponse.chunk")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
