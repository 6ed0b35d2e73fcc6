//! Client strings as error messages and audit records show them: quoted, clipped, bounded.

/// A client string (seal, authorization or request id, case number) kept in a refusal record,
/// in bytes: the refusal of an oversized field records this much of it.
pub const MAX_AUDITED_TEXT: usize = 256;

/// An error message (and an audit reason), in bytes: the last bound, whatever a message holds.
pub const MAX_MESSAGE: usize = 1024;

/// Client text quoted in an error message, in characters; longer text is cut with an ellipsis.
pub const QUOTED_CHARS: usize = 64;

/// `text` as an error message quotes it: Rust-escaped (control characters visible), at most
/// [`QUOTED_CHARS`] characters of it, with "…" when cut.
pub fn quote(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTED_CHARS).collect();
    let cut =
        if chars.next().is_some() { format!("… ({} bytes)", text.len()) } else { String::new() };
    format!("{head:?}{cut}")
}

/// `text` itself when it is short and printable, else as [`quote`] shows it: what a message
/// says of a name the client gave, unchanged for every ordinary one.
pub fn shown(text: &str) -> String {
    if text.chars().count() <= QUOTED_CHARS && !text.chars().any(char::is_control) {
        text.to_string()
    } else {
        quote(text)
    }
}

/// At most `max` bytes of `text`, cut at a character boundary, with "…" when cut.
pub fn clip_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
