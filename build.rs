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
        .file_descriptor_set_path(out.join("eseal_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
