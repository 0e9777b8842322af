//! Bytes as the plugin sent or received them, shown without loss: text when they are UTF-8, base64 otherwise (never
//! U+FFFD) (the command line reads them back: `play::values::bytes`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use run_report::ExactBytes;

/// The report's `<field>` / `<field>_base64` pair for `bytes`: the text, or (when they are not UTF-8) standard
/// base64, so a reader of `<field>` alone keeps what it read before, and nothing is replaced by U+FFFD.
pub fn split(bytes: &[u8]) -> ExactBytes {
    ExactBytes::new(bytes, |bytes| STANDARD.encode(bytes))
}

/// The bytes in the text report: quoted text, or `base64:…` (the form an answer flag takes back).
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("base64:{}", STANDARD.encode(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_text_and_other_bytes_are_base64_beside_it() {
        assert_eq!(
            split(b"caf\xc3\xa9"),
            ExactBytes {
                text: Some("café".into()),
                base64: None
            }
        );
        assert_eq!(
            split(b"\x00\xff"),
            ExactBytes {
                text: None,
                base64: Some("AP8=".into())
            }
        );
        assert_eq!(text(b"a\"b"), "\"a\\\"b\"");
        assert_eq!(text(b"\x00\xff"), "base64:AP8=");
    }
}
