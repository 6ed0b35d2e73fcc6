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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_clips_long_text_and_escapes_controls() {
        assert_eq!(quote("seal-1"), "\"seal-1\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(100_000);
        let quoted = quote(&long);
        assert_eq!(quoted, format!("\"{}\"… (100000 bytes)", "x".repeat(64)));
        // Multi-byte characters are counted as characters, never cut in the middle.
        let wide = "章".repeat(70);
        assert_eq!(quote(&wide), format!("\"{}\"… (210 bytes)", "章".repeat(64)));
    }

    #[test]
    fn shown_keeps_ordinary_names_and_quotes_the_rest() {
        assert_eq!(shown("approval-ec"), "approval-ec");
        assert_eq!(shown("审批-2026-0001"), "审批-2026-0001");
        assert_eq!(shown("a\u{1b}[31m"), "\"a\\u{1b}[31m\"");
        assert_eq!(shown(&"y".repeat(65)), format!("\"{}\"… (65 bytes)", "y".repeat(64)));
    }

    #[test]
    fn clip_to_cuts_at_a_character_boundary() {
        assert_eq!(clip_to("abc", 3), "abc");
        assert_eq!(clip_to("abcd", 3), "abc…");
        assert_eq!(clip_to("章章", 4), "章…");
    }
}
