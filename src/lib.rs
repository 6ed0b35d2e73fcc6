//! The `eseal` command line: `serve`, and the client commands that talk to a server over mTLS.
//! The binary (src/main.rs) parses and hands over to [`cli`]; the work is done by the service
//! and engine crates.

pub mod cli;
