//! eseal: an electronic-seal signing service.
//!
//! The libraries [`pdf`], [`cms`], [`verify`] and [`audit`] know nothing of the service around
//! them. [`policy`] and [`seal`] hold the rules; [`store`] persists; [`api`] translates gRPC;
//! [`server`] assembles; the `eseal` binary is a thin command line over all of it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod checkpoints;
pub mod civil_time;
pub mod cli;
pub mod cms;
pub mod config;
pub mod encoding;
pub mod health;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod pdf;
pub mod policy;
pub mod seal;
pub mod server;
pub mod stamp;
pub mod store;
pub mod verify;
