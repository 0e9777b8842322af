//! The protobuf wire format, as much of it as a `CheckRequest` out and a `CheckResponse` in need: varints and
//! length-delimited fields written in field order, and a reader that walks fields and skips those it does not
//! know. Hand-rolled because a protobuf crate (prost with its derive and the `bytes` crate) would add its runtime
//! and a type per message to a module whose whole budget is 100 kB, for the dozen fields used here.

/// A message being written; nested messages are written into their own `Writer` and then framed.
#[derive(Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

impl Writer {
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    /// A `string` or `bytes` field; proto3 leaves empty ones out.
    pub fn bytes(&mut self, field: u32, value: &[u8]) {
        if !value.is_empty() {
            self.key(field, DELIMITED);
            self.varint(value.len() as u64);
            self.bytes.extend_from_slice(value);
        }
    }

    /// A `uint32`, `uint64`, `int64` or `int32` field (negative numbers as ten-byte two's complement, as protobuf
    /// encodes them); proto3 leaves zero out.
    pub fn int(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, VARINT);
            self.varint(value as u64);
        }
    }

    /// A nested message, written by `write`.
    pub fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        write(&mut inner);
        self.key(field, DELIMITED);
        self.varint(inner.bytes.len() as u64);
        self.bytes.extend_from_slice(&inner.bytes);
    }
}

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Int(u64),
    Bytes(&'a [u8]),
    /// A fixed32 or fixed64 field; no field read here has one.
    Fixed,
}

/// The fields of one message, in wire order; `Err` once the bytes stop making sense, and then nothing more.
pub struct Fields<'a> {
    rest: &'a [u8],
}

pub fn fields(message: &[u8]) -> Fields<'_> {
    Fields { rest: message }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.rest.len() {
            return None;
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(taken)
    }

    fn field(&mut self) -> Option<(u32, Value<'a>)> {
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).ok()?;
        let value = match (key & 7) as u8 {
            VARINT => Value::Int(self.varint()?),
            DELIMITED => {
                let len = usize::try_from(self.varint()?).ok()?;
                Value::Bytes(self.take(len)?)
            }
            FIXED64 => self.take(8).map(|_| Value::Fixed)?,
            FIXED32 => self.take(4).map(|_| Value::Fixed)?,
            _ => return None,
        };
        Some((field, value))
    }
}

/// The message is cut short or is not protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match self.field() {
            Some(field) => Some(Ok(field)),
            None => {
                self.rest = &[];
                Some(Err(Malformed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_field_by_field() {
        let mut writer = Writer::default();
        writer.bytes(1, b"GET");
        writer.bytes(2, b"");
        writer.int(3, 300);
        writer.int(4, -1);
        writer.message(5, |inner| inner.bytes(1, b"x"));
        let bytes = writer.into_bytes();
        // 300 is ac 02; -1 is ten bytes; the empty string is left out.
        assert_eq!(&bytes[..8], b"\x0a\x03GET\x18\xac\x02");
        let read: Vec<_> = fields(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            read,
            [
                (1, Value::Bytes(b"GET")),
                (3, Value::Int(300)),
                (4, Value::Int(u64::MAX)),
                (5, Value::Bytes(b"\x0a\x01x")),
            ]
        );
    }

    #[test]
    fn cut_or_odd_bytes_end_in_one_error() {
        for bad in [
            &b"\x0a\x05GE"[..],
            b"\x0f",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x0d\x01",
        ] {
            let read: Vec<_> = fields(bad).collect();
            assert_eq!(read.last(), Some(&Err(Malformed)), "{bad:?}");
            assert_eq!(read.iter().filter(|r| r.is_err()).count(), 1);
        }
        let skipped: Vec<_> = fields(b"\x09\x01\x02\x03\x04\x05\x06\x07\x08\x10\x01").collect();
        assert_eq!(skipped, [Ok((1, Value::Fixed)), Ok((2, Value::Int(1)))]);
    }
}
