//! Action Message Format 0 (Adobe AMF0 specification, 2007).
//!
//! [`decode_all`]/[`decode_one`] read values, [`encode`]/[`encode_all`] write them.
//! Decoding is hardened against hostile input (see [`Amf0Limits`]) and is lossy
//! for strings: invalid UTF-8 is replaced with U+FFFD rather than rejected, which is
//! what a server talking to arbitrary encoders needs.

mod decode;
mod encode;

pub use decode::{decode_all, decode_all_with, decode_one};
pub use encode::{encode, encode_all};

/// AMF0 type markers (AMF0 spec §2.1).
pub mod marker {
    /// number-marker (§2.2).
    pub const NUMBER: u8 = 0x00;
    /// boolean-marker (§2.3).
    pub const BOOLEAN: u8 = 0x01;
    /// string-marker (§2.4).
    pub const STRING: u8 = 0x02;
    /// object-marker (§2.5).
    pub const OBJECT: u8 = 0x03;
    /// movieclip-marker, reserved (§2.6).
    pub const MOVIECLIP: u8 = 0x04;
    /// null-marker (§2.7).
    pub const NULL: u8 = 0x05;
    /// undefined-marker (§2.8).
    pub const UNDEFINED: u8 = 0x06;
    /// reference-marker (§2.9).
    pub const REFERENCE: u8 = 0x07;
    /// ecma-array-marker (§2.10).
    pub const ECMA_ARRAY: u8 = 0x08;
    /// object-end-marker (§2.11).
    pub const OBJECT_END: u8 = 0x09;
    /// strict-array-marker (§2.12).
    pub const STRICT_ARRAY: u8 = 0x0A;
    /// date-marker (§2.13).
    pub const DATE: u8 = 0x0B;
    /// long-string-marker (§2.14).
    pub const LONG_STRING: u8 = 0x0C;
    /// unsupported-marker (§2.15).
    pub const UNSUPPORTED: u8 = 0x0D;
    /// recordset-marker, reserved (§2.16).
    pub const RECORDSET: u8 = 0x0E;
    /// xml-document-marker (§2.17).
    pub const XML_DOCUMENT: u8 = 0x0F;
    /// typed-object-marker (§2.18).
    pub const TYPED_OBJECT: u8 = 0x10;
    /// avmplus-object-marker: switch to AMF3 (§3.1).
    pub const AVMPLUS_OBJECT: u8 = 0x11;
}

/// One AMF0 value (AMF0 spec §2).
///
/// The unsupported-marker (§2.15) carries no data and decodes as [`Amf0Value::Undefined`].
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// IEEE-754 double (§2.2).
    Number(f64),
    /// Boolean (§2.3).
    Boolean(bool),
    /// UTF-8 string of at most 65535 bytes (§2.4); longer ones are written as long strings.
    String(String),
    /// Anonymous object with ordered properties (§2.5).
    Object(Vec<(String, Amf0Value)>),
    /// Null (§2.7).
    Null,
    /// Undefined (§2.8).
    Undefined,
    /// Index of a previously sent complex value (§2.9).
    Reference(u16),
    /// Associative array; encoded with its count set to the number of properties (§2.10).
    EcmaArray(Vec<(String, Amf0Value)>),
    /// Dense array (§2.12).
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch, plus a time zone that should be 0 (§2.13).
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Reserved time-zone offset.
        time_zone: i16,
    },
    /// UTF-8 string with a 32-bit length (§2.14).
    LongString(String),
    /// XML text with a 32-bit length (§2.17).
    XmlDocument(String),
    /// Object with a registered class name (§2.18).
    TypedObject {
        /// The class alias.
        class_name: String,
        /// Ordered properties.
        properties: Vec<(String, Amf0Value)>,
    },
}

impl Amf0Value {
    /// The text of a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a `Number`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value of a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an `Object`, `EcmaArray` or `TypedObject`.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p)
            | Amf0Value::EcmaArray(p)
            | Amf0Value::TypedObject { properties: p, .. } => Some(p),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object`, `EcmaArray` or `TypedObject`.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Builds an `Object` from `(name, value)` pairs, keeping their order.
    pub fn object<I, K>(props: I) -> Amf0Value
    where
        I: IntoIterator<Item = (K, Amf0Value)>,
        K: Into<String>,
    {
        Amf0Value::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds an `EcmaArray` from `(name, value)` pairs, keeping their order.
    pub fn ecma_array<I, K>(props: I) -> Amf0Value
    where
        I: IntoIterator<Item = (K, Amf0Value)>,
        K: Into<String>,
    {
        Amf0Value::EcmaArray(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Builds a `String`, or a `LongString` when longer than 65535 bytes (§2.4, §2.14).
    pub fn string(s: impl Into<String>) -> Amf0Value {
        let s = s.into();
        if s.len() > usize::from(u16::MAX) {
            Amf0Value::LongString(s)
        } else {
            Amf0Value::String(s)
        }
    }
}

/// Resource limits applied while decoding untrusted AMF0.
#[derive(Debug, Clone, Copy)]
pub struct Amf0Limits {
    /// Maximum nesting of containers (objects, arrays); default 32.
    ///
    /// The decoder recurses once per level, so keep this modest.
    pub max_depth: usize,
    /// Maximum number of values (nested ones included) in one decode call; default 65 536.
    pub max_elements: usize,
}

impl Default for Amf0Limits {
    fn default() -> Self {
        Amf0Limits {
            max_depth: 32,
            max_elements: 65_536,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let v = Amf0Value::object([
            ("app", Amf0Value::string("live")),
            ("n", Amf0Value::Number(3.0)),
            ("b", Amf0Value::Boolean(true)),
        ]);
        assert_eq!(v.get("app").and_then(Amf0Value::as_str), Some("live"));
        assert_eq!(v.get("n").and_then(Amf0Value::as_f64), Some(3.0));
        assert_eq!(v.get("b").and_then(Amf0Value::as_bool), Some(true));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Amf0Value::Null.get("app"), None);
        assert_eq!(Amf0Value::LongString("x".into()).as_str(), Some("x"));
        assert_eq!(Amf0Value::Null.as_str(), None);
        assert_eq!(Amf0Value::Null.as_f64(), None);
        assert_eq!(Amf0Value::Null.as_bool(), None);
        let t = Amf0Value::TypedObject {
            class_name: "C".into(),
            properties: vec![("k".into(), Amf0Value::Null)],
        };
        assert_eq!(t.get("k"), Some(&Amf0Value::Null));
        let e = Amf0Value::ecma_array([("k", Amf0Value::Undefined)]);
        assert_eq!(e.get("k"), Some(&Amf0Value::Undefined));
    }

    #[test]
    fn string_builder_picks_long_string() {
        assert!(matches!(Amf0Value::string("a"), Amf0Value::String(_)));
        assert!(matches!(
            Amf0Value::string("a".repeat(65_535)),
            Amf0Value::String(_)
        ));
        assert!(matches!(
            Amf0Value::string("a".repeat(65_536)),
            Amf0Value::LongString(_)
        ));
    }

    #[test]
    fn default_limits() {
        let l = Amf0Limits::default();
        assert_eq!(l.max_depth, 32);
        assert_eq!(l.max_elements, 65_536);
    }
}
