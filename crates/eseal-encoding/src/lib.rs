//! What the engine crates share and is too small for a dependency: calendar arithmetic for UTC
//! timestamps ([`civil_time`]), lower-case hex ([`hex()`]) and base64 ([`base64`]).
//!
//! ```
//! assert_eq!(eseal_encoding::hex(&[0x0f, 0xa0]), "0fa0");
//! assert_eq!(eseal_encoding::civil_time::civil_from_unix(86_400), (1970, 1, 2, 0, 0, 0));
//! ```

pub mod base64;
pub mod civil_time;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
