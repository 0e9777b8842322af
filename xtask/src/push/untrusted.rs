//! Text that comes from elsewhere (a registry's error body, a credential helper's stderr) made safe to
//! print: control characters would let it rewrite the user's terminal, and a long page would bury the
//! message around it.

/// At most this many characters of someone else's text go into a message.
const SHOWN: usize = 400;

/// `text` with control characters escaped (`\u{1b}`, `\n`…) and cut after [`SHOWN`] characters.
pub(crate) fn printable(text: &str) -> String {
    let text = text.trim();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN {
            out.push_str(" […]");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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
    fn long_text_is_cut() {
        let shown = printable(&"x".repeat(10_000));
        assert_eq!(shown.len(), SHOWN + " […]".len());
        assert!(shown.ends_with(" […]"));
    }
}
