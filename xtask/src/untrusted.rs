//! Text that comes from elsewhere (a registry's error body, a credential helper's stderr, what a module made the
//! runner report) made safe to print on one line: control characters would let it rewrite the user's terminal or
//! forge the next line, bidirectional overrides would reorder what is shown, and a long page would bury the
//! message around it.

/// At most this many characters of someone else's text go into a message.
const SHOWN: usize = 400;

/// `text` with control characters and bidirectional overrides escaped (`\u{1b}`, `\n`…) and cut after
/// [`SHOWN`] characters.
pub fn printable(text: &str) -> String {
    let text = text.trim();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN {
            out.push_str(" […]");
            break;
        }
        if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The Unicode controls that reorder displayed text (the "Trojan Source" characters), as the host escapes them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_newlines_cannot_reach_the_terminal() {
        assert_eq!(
            printable("denied\u{1b}[2J\r\nfake prompt: "),
            "denied\\u{1b}[2J\\r\\nfake prompt:"
        );
    }

    #[test]
    fn text_cannot_be_reordered() {
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
    }

    #[test]
    fn long_text_is_cut() {
        let shown = printable(&"x".repeat(10_000));
        assert_eq!(shown.len(), SHOWN + " […]".len());
        assert!(shown.ends_with(" […]"));
    }
}
