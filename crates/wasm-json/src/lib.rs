//! Just enough JSON for an extension's module: a value tree whose objects keep their key order and whose numbers
//! stay text as written (so a rewritten document changes only what was changed), parse errors that say where,
//! readers that name the configuration field at fault, and a compact writer. serde_json with derived
//! deserializers costs a module about 20 to 30 kB, its float formatting and error machinery included.

/// A parsed value. Objects keep their keys in order, duplicates included, so that a duplicate can be refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number as written: integers are read from it on demand, fractions refused there.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Deeper nesting is refused rather than recursed into (serde_json's limit too): a hostile body cannot exhaust the
/// module's stack.
const MAX_DEPTH: usize = 128;

/// The value in `text`, or where and why it is not JSON.
pub fn parse(text: &[u8]) -> Result<Json, String> {
    let mut parser = Parser { text, at: 0 };
    let value = parser.value(0)?;
    parser.space();
    if parser.at < text.len() {
        return Err(parser.error("trailing characters after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("not valid JSON at byte {}: {what}", self.at)
    }

    fn space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| b" \t\r\n".contains(b))
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.text.get(self.at).copied()
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        match self.peek() {
            None => Err(self.error("the text ends where a value should be")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => Ok(self.number()),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Json {
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
        {
            self.at += 1;
        }
        Json::Number(String::from_utf8_lossy(&self.text[start..self.at]).into_owned())
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.at += 1;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.at += 1;
        let mut members = Vec::new();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key in double quotes"));
            }
            let key = self.string()?;
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.at += 1;
            members.push((key, self.value(depth + 1)?));
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// A string; the parser stands on its opening quote.
    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut bytes = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.at) else {
                return Err(self.error("a string is not closed"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = self.text.get(self.at).copied();
                    self.at += 1;
                    let unescaped = match escaped {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.error("unknown escape in a string")),
                    };
                    let mut buffer = [0; 4];
                    bytes.extend_from_slice(unescaped.encode_utf8(&mut buffer).as_bytes());
                }
                0..=0x1f => return Err(self.error("a control character in a string")),
                _ => bytes.push(byte),
            }
        }
        String::from_utf8(bytes).map_err(|_| self.error("a string is not UTF-8"))
    }

    /// `\uXXXX`, a surrogate pair joined; the parser stands after the `u`.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&first) {
            if !self.text[self.at..].starts_with(b"\\u") {
                return Err(self.error("a lone surrogate in a \\u escape"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return Err(self.error("a lone surrogate in a \\u escape"));
            }
            0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("a lone surrogate in a \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        self.at += 4;
        digits.ok_or_else(|| self.error("a \\u escape needs four hex digits"))
    }
}

/// An object's members, taken one by one by name; what nobody takes is an unknown field.
pub struct Object {
    members: Vec<(String, Json)>,
    /// Where the object is, for messages: empty at the top, `"denied_response".` inside that field.
    path: String,
}

impl Object {
    /// `value` as an object, or an error naming `what` it should have been.
    pub fn new(value: Json, path: &str, what: &str) -> Result<Object, String> {
        let Json::Object(members) = value else {
            return Err(format!(
                "{what} must be a JSON object, not {}",
                kind(&value)
            ));
        };
        for (i, (key, _)) in members.iter().enumerate() {
            if members[..i].iter().any(|(k, _)| k == key) {
                return Err(format!("\"{path}{key}\" is given twice: keep one"));
            }
        }
        Ok(Object {
            members,
            path: path.to_owned(),
        })
    }

    fn name(&self, key: &str) -> String {
        format!("\"{}{key}\"", self.path)
    }

    /// Member `key`, unless absent or null.
    pub fn take(&mut self, key: &str) -> Option<Json> {
        let at = self.members.iter().position(|(k, _)| k == key)?;
        match self.members.remove(at).1 {
            Json::Null => None,
            value => Some(value),
        }
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::String(text)) => Ok(Some(text)),
            Some(other) => Err(format!(
                "{} must be a string, not {}",
                self.name(key),
                kind(&other)
            )),
        }
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Bool(flag)) => Ok(Some(flag)),
            Some(other) => Err(format!(
                "{} must be true or false, not {}",
                self.name(key),
                kind(&other)
            )),
        }
    }

    /// A whole number from 0 to `max`.
    pub fn integer(&mut self, key: &str, max: u64) -> Result<Option<u64>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Number(text)) => match text.parse::<u64>() {
                Ok(number) if number <= max => Ok(Some(number)),
                _ => Err(format!(
                    "{} {text} is not a whole number from 0 to {max}",
                    self.name(key)
                )),
            },
            Some(other) => Err(format!(
                "{} must be a number, not {}",
                self.name(key),
                kind(&other)
            )),
        }
    }

    pub fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Json::String(text) => Ok(text),
                    other => Err(format!(
                        "{} must hold strings only, not {}",
                        self.name(key),
                        kind(&other)
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(other) => Err(format!(
                "{} must be a list of strings, not {}",
                self.name(key),
                kind(&other)
            )),
        }
    }

    /// Member `key` as an object of its own.
    pub fn object(&mut self, key: &str) -> Result<Option<Object>, String> {
        let path = format!("{}{key}.", self.path);
        let name = self.name(key);
        self.take(key)
            .map(|value| Object::new(value, &path, &name))
            .transpose()
    }

    /// Refuses members nobody took, naming the fields there are.
    pub fn finish(self, known: &[&str]) -> Result<(), String> {
        match self.members.first() {
            None => Ok(()),
            Some((key, _)) => Err(format!(
                "{} is not a field here: the fields are {}",
                self.name(key),
                known.join(", ")
            )),
        }
    }
}

impl Json {
    /// The value as compact JSON text: no spaces, keys in their order, numbers as they were written.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(text) => out.extend_from_slice(text.as_bytes()),
            Json::String(text) => write_string(text, out),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Json::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(key, out);
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// A JSON string: quotes, backslashes and control characters escaped, the rest as is (UTF-8).
fn write_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for byte in text.bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_with_escapes_and_numbers_kept_as_written() {
        let value =
            parse(br#" {"a": [1, -2.5e3, true, null], "b": "x\"\u00e9\ud83d\ude00\n", "c": {}} "#)
                .unwrap();
        assert_eq!(
            value,
            Json::Object(vec![
                (
                    "a".into(),
                    Json::Array(vec![
                        Json::Number("1".into()),
                        Json::Number("-2.5e3".into()),
                        Json::Bool(true),
                        Json::Null
                    ])
                ),
                ("b".into(), Json::String("x\"é😀\n".into())),
                ("c".into(), Json::Object(vec![])),
            ])
        );
    }

    #[test]
    fn broken_text_says_where() {
        for (text, expected) in [
            (&b"{\"a\": }"[..], "at byte 6: expected a value"),
            (b"{\"a\" 1}", "at byte 5: expected ':'"),
            (b"[1 2]", "expected ',' or ']'"),
            (b"\"abc", "a string is not closed"),
            (b"\"\\ud800\"", "lone surrogate"),
            (b"\"\xff\"", "not UTF-8"),
            (b"{} x", "trailing characters"),
            (b"", "the text ends"),
            (b"tru", "expected a value"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
        let deep = "[".repeat(100_000);
        assert!(parse(format!("{}{}", "[".repeat(128), "]".repeat(128)).as_bytes()).is_ok());
        assert!(
            parse(deep.as_bytes())
                .unwrap_err()
                .contains("nested too deep")
        );
    }

    #[test]
    fn what_is_written_reads_back_the_same_and_numbers_keep_their_text() {
        let text = "{\"b\":[1.50,-0,2e3,true,null],\"a\":\"q\\\"\\\\\\n\\u0001é\",\"c\":{}}";
        let value = parse(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(value.to_vec()).unwrap(), text);
        let spaced = parse(br#" { "x" : [ 1 , 2 ] } "#).unwrap();
        assert_eq!(spaced.to_vec(), br#"{"x":[1,2]}"#);
    }

    #[test]
    fn fields_are_read_by_name_and_type_and_leftovers_refused() {
        let value =
            parse(br#"{"s": "x", "n": 7, "f": 1.5, "l": ["a", 1], "o": {"z": true}}"#).unwrap();
        let mut object = Object::new(value, "", "configuration").unwrap();
        assert_eq!(object.string("s").unwrap().as_deref(), Some("x"));
        assert_eq!(object.integer("n", 10).unwrap(), Some(7));
        assert!(
            object
                .integer("f", 10)
                .unwrap_err()
                .contains(r#""f" 1.5 is not a whole number"#)
        );
        assert!(
            object
                .strings("l")
                .unwrap_err()
                .contains(r#""l" must hold strings only, not a number"#)
        );
        let mut inner = object.object("o").unwrap().unwrap();
        assert!(
            inner
                .string("z")
                .unwrap_err()
                .contains(r#""o.z" must be a string, not a boolean"#)
        );
        assert_eq!(object.string("absent").unwrap(), None);
        object.finish(&["s"]).unwrap();
        let twice = parse(br#"{"a": 1, "a": 2}"#).unwrap();
        assert!(
            Object::new(twice, "", "c")
                .err()
                .unwrap()
                .contains("given twice")
        );
    }
}
