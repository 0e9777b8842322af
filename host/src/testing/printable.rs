//! Guest text made safe for a terminal: a module's log lines, bodies and header values reach the person running
//! the tests or `proxy-wasm-run`, and escape sequences in them could rewrite the screen, hide lines or set the
//! window title. Control characters (and the bidirectional overrides that reorder what is shown) are printed as
//! `\u{..}` escapes instead.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character escaped except newlines and tabs: for multi-line output (a report, a body).
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// `text` on one line: newlines and carriage returns are escaped too, so a guest cannot forge the next log line.
pub fn printable_line(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\t')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| !keep(c) && (c.is_control() || is_bidi_control(c));
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if !keep(c) => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The Unicode controls that reorder displayed text (the "Trojan Source" characters).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_keeps_plain_text() {
        assert_eq!(
            printable("plain text\twith a tab\n"),
            "plain text\twith a tab\n"
        );
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}red"),
            "\\u{1b}]0;owned\\u{7}red"
        );
        assert_eq!(printable("a\rb\u{9b}c\u{202e}d"), "a\\rb\\u{9b}c\\u{202e}d");
        assert_eq!(printable_line("one\nfake line"), "one\\nfake line");
        assert!(matches!(printable("héllo"), Cow::Borrowed(_)));
    }
}
