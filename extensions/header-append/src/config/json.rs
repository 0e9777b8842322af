//! The configuration's JSON as a small ordered tree, read instead of `serde_json::Value`, whose objects are sorted
//! `BTreeMap`s (the headers' order would be lost) and whose code makes the module larger.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Json {
    String(String),
    /// Members in document order, duplicates kept.
    Object(Vec<(String, Json)>),
    /// Anything else, by its kind ("a number", "null"...): the configuration never needs its content.
    Other(&'static str),
}

impl Json {
    /// The kind of value, for error messages: "a string", "an object", "a number"...
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Json::String(_) => "a string",
            Json::Object(_) => "an object",
            Json::Other(kind) => kind,
        }
    }
}

/// Parses a whole document; the error carries serde_json's line and column.
pub(super) fn parse(text: &str) -> Result<Json, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let json = deserializer.deserialize_any(JsonVisitor)?;
    deserializer.end()?;
    Ok(json)
}

struct JsonVisitor;

impl<'de> de::Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Json::Other("an array"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Other("a number"))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Other("null"))
    }
}
