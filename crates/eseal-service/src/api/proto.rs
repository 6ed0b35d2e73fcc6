//! The generated protobuf and gRPC code of package `eseal.v1`.
#![allow(missing_docs, clippy::all)]

tonic::include_proto!("eseal.v1");

/// The encoded file descriptor set, served by gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("eseal_descriptor");
