//! The service's use cases, free of gRPC: what a call does once the API has translated it,
//! and the state every call shares. The API (crate::api) translates protobuf to and from these
//! and maps [`ServiceError`] to a status; the use cases decide nothing the policy decides.

pub mod clip;
mod error;
pub mod spool;
pub mod stamping;
mod state;

pub use error::ServiceError;
pub use state::{CallSettings, LoadedSeal, ServiceState, certificate_validity};
