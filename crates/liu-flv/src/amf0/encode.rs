//! AMF0 encoding (AMF0 spec §2).
//!
//! Lengths that do not fit their field are clamped: property names and class
//! names are cut at a character boundary to 65535 bytes, long strings to
//! `u32::MAX` bytes, and a `String` over 65535 bytes is written as a long string.

use super::{Amf0Value, marker};

/// Appends the AMF0 encoding of `value` to `out`.
pub fn encode(value: &Amf0Value, out: &mut Vec<u8>) {
    match value {
        Amf0Value::Number(n) => {
            out.push(marker::NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf0Value::Boolean(b) => out.extend_from_slice(&[marker::BOOLEAN, u8::from(*b)]),
        Amf0Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.push(marker::STRING);
            write_utf8(s, out);
        }
        Amf0Value::String(s) | Amf0Value::LongString(s) => {
            out.push(marker::LONG_STRING);
            write_utf8_long(s, out);
        }
        Amf0Value::Object(props) => {
            out.push(marker::OBJECT);
            write_properties(props, out);
        }
        Amf0Value::Null => out.push(marker::NULL),
        Amf0Value::Undefined => out.push(marker::UNDEFINED),
        Amf0Value::Reference(r) => {
            out.push(marker::REFERENCE);
            out.extend_from_slice(&r.to_be_bytes());
        }
        Amf0Value::EcmaArray(props) => {
            out.push(marker::ECMA_ARRAY);
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            write_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            out.push(marker::STRICT_ARRAY);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Amf0Value::Date { millis, time_zone } => {
            out.push(marker::DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&time_zone.to_be_bytes());
        }
        Amf0Value::XmlDocument(s) => {
            out.push(marker::XML_DOCUMENT);
            write_utf8_long(s, out);
        }
        Amf0Value::TypedObject {
            class_name,
            properties,
        } => {
            out.push(marker::TYPED_OBJECT);
            write_utf8(class_name, out);
            write_properties(properties, out);
        }
    }
}

/// Encodes a sequence of values back to back (e.g. an RTMP command message body).
pub fn encode_all(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

/// UTF-8 with a 16-bit length (§1.3), cut at a char boundary if too long.
fn write_utf8(s: &str, out: &mut Vec<u8>) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = s.as_bytes().get(..end).unwrap_or_default();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// UTF-8 with a 32-bit length (§1.3).
fn write_utf8_long(s: &str, out: &mut Vec<u8>) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes().get(..len as usize).unwrap_or_default());
}

/// Properties followed by the empty name and object-end marker (§2.5, §2.11).
fn write_properties(props: &[(String, Amf0Value)], out: &mut Vec<u8>) {
    for (k, v) in props {
        write_utf8(k, out);
        encode(v, out);
    }
    out.extend_from_slice(&[0x00, 0x00, marker::OBJECT_END]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf0::{Amf0Limits, decode_all, decode_one};

    fn s(v: &str) -> Amf0Value {
        Amf0Value::string(v)
    }

    #[test]
    fn connect_command_bytes() {
        let values = [
            s("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([
                ("app", s("live")),
                ("type", s("nonprivate")),
                ("flashVer", s("FMLE/3.0")),
                ("tcUrl", s("rtmp://h/live")),
            ]),
        ];
        let mut want = Vec::new();
        want.extend_from_slice(b"\x02\x00\x07connect");
        want.extend_from_slice(b"\x00\x3f\xf0\x00\x00\x00\x00\x00\x00");
        want.extend_from_slice(b"\x03");
        want.extend_from_slice(b"\x00\x03app\x02\x00\x04live");
        want.extend_from_slice(b"\x00\x04type\x02\x00\x0anonprivate");
        want.extend_from_slice(b"\x00\x08flashVer\x02\x00\x08FMLE/3.0");
        want.extend_from_slice(b"\x00\x05tcUrl\x02\x00\x0drtmp://h/live");
        want.extend_from_slice(b"\x00\x00\x09");
        let got = encode_all(&values);
        assert_eq!(got, want);
        assert_eq!(decode_all(&got), Ok(values.to_vec()));
    }

    #[test]
    fn on_metadata_ecma_array_bytes() {
        let v = Amf0Value::ecma_array([
            ("duration", Amf0Value::Number(0.0)),
            ("stereo", Amf0Value::Boolean(true)),
        ]);
        let mut want = Vec::new();
        want.extend_from_slice(b"\x08\x00\x00\x00\x02");
        want.extend_from_slice(b"\x00\x08duration\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        want.extend_from_slice(b"\x00\x06stereo\x01\x01");
        want.extend_from_slice(b"\x00\x00\x09");
        assert_eq!(encode_all(&[v]), want);
    }

    #[test]
    fn scalar_bytes() {
        let cases: [(Amf0Value, &[u8]); 8] = [
            (Amf0Value::Null, b"\x05"),
            (Amf0Value::Undefined, b"\x06"),
            (Amf0Value::Boolean(true), b"\x01\x01"),
            (Amf0Value::Reference(2), b"\x07\x00\x02"),
            (
                Amf0Value::StrictArray(vec![Amf0Value::Null]),
                b"\x0a\x00\x00\x00\x01\x05",
            ),
            (
                Amf0Value::Date {
                    millis: 1.0,
                    time_zone: 0,
                },
                b"\x0b\x3f\xf0\x00\x00\x00\x00\x00\x00\x00\x00",
            ),
            (
                Amf0Value::LongString("ab".into()),
                b"\x0c\x00\x00\x00\x02ab",
            ),
            (
                Amf0Value::XmlDocument("<a/>".into()),
                b"\x0f\x00\x00\x00\x04<a/>",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(encode_all(std::slice::from_ref(&v)), want, "{v:?}");
        }
    }

    #[test]
    fn oversized_string_becomes_long_string() {
        let big = "x".repeat(70_000);
        let bytes = encode_all(&[Amf0Value::String(big.clone())]);
        assert_eq!(bytes.first(), Some(&marker::LONG_STRING));
        assert_eq!(decode_all(&bytes), Ok(vec![Amf0Value::LongString(big)]));
    }

    #[test]
    fn oversized_name_is_cut_on_char_boundary() {
        // 'é' is two bytes, so 65535 is mid-character and the name is cut to 65534.
        let name = "é".repeat(40_000);
        let bytes = encode_all(&[Amf0Value::object([(name.clone(), Amf0Value::Null)])]);
        let decoded = decode_all(&bytes);
        let expected = name.get(..65_534).unwrap_or_default().to_string();
        assert_eq!(
            decoded,
            Ok(vec![Amf0Value::Object(vec![(expected, Amf0Value::Null)])])
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn number() -> impl Strategy<Value = f64> {
            any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan())
        }

        fn text() -> impl Strategy<Value = String> + Clone {
            "\\PC{0,12}"
        }

        fn value() -> impl Strategy<Value = Amf0Value> {
            let leaf = prop_oneof![
                number().prop_map(Amf0Value::Number),
                any::<bool>().prop_map(Amf0Value::Boolean),
                text().prop_map(Amf0Value::String),
                Just(Amf0Value::Null),
                Just(Amf0Value::Undefined),
                any::<u16>().prop_map(Amf0Value::Reference),
                (number(), any::<i16>())
                    .prop_map(|(millis, time_zone)| Amf0Value::Date { millis, time_zone }),
                text().prop_map(Amf0Value::LongString),
                text().prop_map(Amf0Value::XmlDocument),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                let props = proptest::collection::vec((text(), inner.clone()), 0..6);
                prop_oneof![
                    props.clone().prop_map(Amf0Value::Object),
                    props.clone().prop_map(Amf0Value::EcmaArray),
                    proptest::collection::vec(inner, 0..6).prop_map(Amf0Value::StrictArray),
                    (text(), props).prop_map(|(class_name, properties)| {
                        Amf0Value::TypedObject {
                            class_name,
                            properties,
                        }
                    }),
                ]
            })
        }

        proptest! {
            #[test]
            fn round_trip(values in proptest::collection::vec(value(), 0..5)) {
                let bytes = encode_all(&values);
                prop_assert_eq!(decode_all(&bytes), Ok(values));
            }

            #[test]
            fn decode_one_consumes_exactly_one(v in value(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
                let mut bytes = Vec::new();
                encode(&v, &mut bytes);
                let len = bytes.len();
                bytes.extend_from_slice(&tail);
                prop_assert_eq!(decode_one(&bytes, &Amf0Limits::default()), Ok((v, len)));
            }
        }
    }
}
