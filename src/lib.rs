//! eseal: an electronic-seal signing service.
//!
//! The libraries [`pdf`], [`cms`] and [`verify`] know nothing of the service around them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod civil_time;
pub mod cms;
pub mod pdf;
pub mod policy;
pub mod seal;
pub mod stamp;
pub mod verify;
