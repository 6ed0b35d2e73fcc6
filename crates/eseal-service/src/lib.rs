//! The eseal service: department systems stamp documents over gRPC (mTLS), custodians
//! authorize, archivists verify and export.
//!
//! The engine crates (`eseal_pdf`, `eseal_cms`, `eseal_verify`, `eseal_audit`) know nothing of
//! the service around them. Here [`policy`] and [`seal`] hold the rules; [`keys`] signs with the
//! seals' keys; [`store`] persists; [`checkpoints`] signs the audit log's tree heads; [`archive`]
//! exports and checks bags; [`api`] translates gRPC; [`server`] assembles.

pub mod api;
pub mod archive;
pub mod auth;
pub mod checkpoints;
pub mod config;
pub mod health;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod seal;
pub mod server;
pub mod service;
pub mod stamp;
pub mod store;
