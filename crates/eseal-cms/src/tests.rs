//! Tests of the CMS module: signatures built here checked by the real
//! `openssl cms`, signatures made by OpenSSL and pyHanko read back, and
//! hostile input.
//!
//! The test PKI (root → intermediate → seal) is generated at run time with
//! rcgen; RSA keys (and the Ed25519 key) come from `openssl genpkey`, since
//! rcgen on ring cannot generate RSA keys.

#[path = "../../../tests/common/corpus.rs"]
mod corpus;

mod building;
mod hostile;
mod interop;
mod keys;
mod support;
