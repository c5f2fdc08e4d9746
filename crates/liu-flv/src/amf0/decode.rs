//! AMF0 decoding (AMF0 spec §2), hardened against hostile input.
//!
//! - Nesting is limited by [`Amf0Limits::max_depth`], checked before recursing.
//! - The total number of values is limited by [`Amf0Limits::max_elements`].
//! - Declared counts never drive allocation beyond what the remaining bytes could hold.
//! - Strings are converted lossily (invalid UTF-8 becomes U+FFFD).
//! - ECMA array counts are advisory: properties are read up to the object-end marker.
//! - The outermost container may be closed by the end of input instead of an
//!   object-end marker (for an ECMA array, only once its declared count is reached).

use super::{Amf0Limits, Amf0Value, marker};
use crate::error::{FlvError, Result};
use liu_codec::cursor::Cursor;

/// Decodes every value in `buf` with the default [`Amf0Limits`].
pub fn decode_all(buf: &[u8]) -> Result<Vec<Amf0Value>> {
    decode_all_with(buf, &Amf0Limits::default())
}

/// Decodes values until `buf` is exhausted; `limits.max_elements` covers the whole call.
pub fn decode_all_with(buf: &[u8], limits: &Amf0Limits) -> Result<Vec<Amf0Value>> {
    let mut d = Decoder::new(buf, limits);
    let mut out = Vec::new();
    while !d.cur.is_empty() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

/// Decodes one value from the start of `buf`, returning it and the bytes consumed.
pub fn decode_one(buf: &[u8], limits: &Amf0Limits) -> Result<(Amf0Value, usize)> {
    let mut d = Decoder::new(buf, limits);
    let v = d.value(0)?;
    Ok((v, d.cur.position()))
}

struct Decoder<'a, 'l> {
    cur: Cursor<'a>,
    limits: &'l Amf0Limits,
    elements: usize,
}

impl<'a, 'l> Decoder<'a, 'l> {
    fn new(buf: &'a [u8], limits: &'l Amf0Limits) -> Self {
        Decoder {
            cur: Cursor::new(buf),
            limits,
            elements: 0,
        }
    }

    /// Accounts for `n` more values against the element limit.
    fn count(&mut self, n: usize) -> Result<()> {
        let limit = self.limits.max_elements;
        match self.elements.checked_add(n) {
            Some(total) if total <= limit => {
                self.elements = total;
                Ok(())
            }
            _ => Err(FlvError::Amf0TooManyElements { limit }),
        }
    }

    /// Fails before entering a container at nesting level `depth` (0 = outermost).
    fn enter(&self, depth: usize) -> Result<()> {
        if depth >= self.limits.max_depth {
            Err(FlvError::Amf0TooDeep {
                limit: self.limits.max_depth,
            })
        } else {
            Ok(())
        }
    }

    /// UTF-8 (§1.3, 16-bit length), decoded lossily.
    fn utf8(&mut self, what: &'static str) -> Result<String> {
        let len = self.cur.u16(what)?;
        let bytes = self.cur.take(usize::from(len), what)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// UTF-8-long (§1.3, 32-bit length), decoded lossily.
    fn utf8_long(&mut self, what: &'static str) -> Result<String> {
        let len = self.cur.u32(what)?;
        let len = usize::try_from(len).map_err(|_| FlvError::Truncated { what })?;
        let bytes = self.cur.take(len, what)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// One value; `depth` is its nesting level (0 = outermost).
    fn value(&mut self, depth: usize) -> Result<Amf0Value> {
        self.count(1)?;
        let m = self.cur.u8("AMF0 type marker")?;
        Ok(match m {
            marker::NUMBER => Amf0Value::Number(self.cur.f64("AMF0 number")?),
            marker::BOOLEAN => Amf0Value::Boolean(self.cur.u8("AMF0 boolean")? != 0),
            marker::STRING => Amf0Value::String(self.utf8("AMF0 string")?),
            marker::OBJECT => {
                self.enter(depth)?;
                Amf0Value::Object(self.properties(depth, None)?)
            }
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED | marker::UNSUPPORTED => Amf0Value::Undefined,
            marker::REFERENCE => Amf0Value::Reference(self.cur.u16("AMF0 reference")?),
            marker::ECMA_ARRAY => {
                self.enter(depth)?;
                let declared = self.cur.u32("AMF0 ECMA array count")?;
                Amf0Value::EcmaArray(self.properties(depth, Some(declared))?)
            }
            marker::OBJECT_END => return Err(FlvError::Amf0UnexpectedObjectEnd),
            marker::STRICT_ARRAY => {
                self.enter(depth)?;
                self.strict_array(depth)?
            }
            marker::DATE => {
                let millis = self.cur.f64("AMF0 date")?;
                let time_zone = self.cur.i16("AMF0 date time zone")?;
                Amf0Value::Date { millis, time_zone }
            }
            marker::LONG_STRING => Amf0Value::LongString(self.utf8_long("AMF0 long string")?),
            marker::XML_DOCUMENT => Amf0Value::XmlDocument(self.utf8_long("AMF0 XML document")?),
            marker::TYPED_OBJECT => {
                self.enter(depth)?;
                let class_name = self.utf8("AMF0 typed object class name")?;
                let properties = self.properties(depth, None)?;
                Amf0Value::TypedObject {
                    class_name,
                    properties,
                }
            }
            marker::AVMPLUS_OBJECT => return Err(FlvError::Amf3Unsupported),
            other => return Err(FlvError::Amf0UnknownMarker(other)),
        })
    }

    /// strict-array-type (§2.12): U32 count then that many values.
    fn strict_array(&mut self, depth: usize) -> Result<Amf0Value> {
        let count = self.cur.u32("AMF0 strict array count")?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        // Every value takes at least one byte, so a larger count cannot be satisfied.
        if count > self.cur.remaining() {
            return Err(FlvError::Truncated {
                what: "AMF0 strict array",
            });
        }
        let room = self.limits.max_elements.saturating_sub(self.elements);
        if count > room {
            return Err(FlvError::Amf0TooManyElements {
                limit: self.limits.max_elements,
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(self.value(depth + 1)?);
        }
        Ok(Amf0Value::StrictArray(items))
    }

    /// object-property list up to the object-end marker (§2.5, §2.10, §2.11).
    ///
    /// `depth` is the level of the container itself; `declared` is an ECMA array count.
    fn properties(
        &mut self,
        depth: usize,
        declared: Option<u32>,
    ) -> Result<Vec<(String, Amf0Value)>> {
        let mut props = Vec::new();
        loop {
            if self.cur.is_empty() && self.may_end_at_eof(depth, declared, props.len()) {
                return Ok(props);
            }
            let key = self.utf8("AMF0 property name")?;
            if key.is_empty() {
                match self.cur.peek_u8() {
                    Some(marker::OBJECT_END) => {
                        self.cur.take(1, "AMF0 object end")?;
                        return Ok(props);
                    }
                    None if self.may_end_at_eof(depth, declared, props.len()) => {
                        return Ok(props);
                    }
                    // An empty name followed by a value is an ordinary property.
                    _ => {}
                }
            }
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }

    /// Whether end of input may stand in for the object-end marker.
    fn may_end_at_eof(&self, depth: usize, declared: Option<u32>, have: usize) -> bool {
        depth == 0 && declared.is_none_or(|n| usize::try_from(n).is_ok_and(|n| have >= n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf0::encode_all;

    fn limits(max_depth: usize, max_elements: usize) -> Amf0Limits {
        Amf0Limits {
            max_depth,
            max_elements,
        }
    }

    #[test]
    fn decodes_scalars() {
        let buf = [
            0x00, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, // pi
            0x01, 0x01, // true
            0x01, 0x00, // false
            0x02, 0x00, 0x02, b'h', b'i', // "hi"
            0x05, 0x06, // null, undefined
            0x07, 0x12, 0x34, // reference
            0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, // date 0, tz -2
            0x0c, 0, 0, 0, 1, b'L', // long string
            0x0f, 0, 0, 0, 1, b'X', // xml
            0x0d, // unsupported -> undefined
        ];
        let v = decode_all(&buf).unwrap_or_default();
        assert_eq!(
            v,
            vec![
                Amf0Value::Number(std::f64::consts::PI),
                Amf0Value::Boolean(true),
                Amf0Value::Boolean(false),
                Amf0Value::String("hi".into()),
                Amf0Value::Null,
                Amf0Value::Undefined,
                Amf0Value::Reference(0x1234),
                Amf0Value::Date {
                    millis: 0.0,
                    time_zone: -2
                },
                Amf0Value::LongString("L".into()),
                Amf0Value::XmlDocument("X".into()),
                Amf0Value::Undefined,
            ]
        );
    }

    #[test]
    fn decode_one_reports_consumed() {
        let buf = [0x05, 0x02, 0x00, 0x00];
        let (v, n) = decode_one(&buf, &Amf0Limits::default()).unwrap_or((Amf0Value::Undefined, 0));
        assert_eq!((v, n), (Amf0Value::Null, 1));
        assert_eq!(
            decode_one(&[], &Amf0Limits::default()),
            Err(FlvError::Truncated {
                what: "AMF0 type marker"
            })
        );
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let buf = [0x02, 0x00, 0x02, 0xff, b'a'];
        assert_eq!(
            decode_all(&buf),
            Ok(vec![Amf0Value::String("\u{fffd}a".into())])
        );
    }

    #[test]
    fn special_markers() {
        assert_eq!(decode_all(&[0x11, 0x01]), Err(FlvError::Amf3Unsupported));
        assert_eq!(decode_all(&[0x04]), Err(FlvError::Amf0UnknownMarker(0x04)));
        assert_eq!(decode_all(&[0x0e]), Err(FlvError::Amf0UnknownMarker(0x0e)));
        assert_eq!(decode_all(&[0x12]), Err(FlvError::Amf0UnknownMarker(0x12)));
        assert_eq!(decode_all(&[0x09]), Err(FlvError::Amf0UnexpectedObjectEnd));
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let mut buf = Vec::new();
        for _ in 0..100_000 {
            buf.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
        }
        assert_eq!(decode_all(&buf), Err(FlvError::Amf0TooDeep { limit: 32 }));
        let mut buf = Vec::new();
        for _ in 0..100_000 {
            buf.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
        }
        assert_eq!(decode_all(&buf), Err(FlvError::Amf0TooDeep { limit: 32 }));
        let mut buf = Vec::new();
        for _ in 0..100_000 {
            buf.extend_from_slice(&[0x08, 0, 0, 0, 1, 0x00, 0x01, b'a']);
        }
        assert_eq!(decode_all(&buf), Err(FlvError::Amf0TooDeep { limit: 32 }));
    }

    #[test]
    fn depth_limit_is_exact() {
        // Three nested empty objects.
        let buf = [
            0x03, 0x00, 0x01, b'a', 0x03, 0x00, 0x01, b'b', 0x03, 0, 0, 9, 0, 0, 9, 0, 0, 9,
        ];
        assert!(decode_all_with(&buf, &limits(3, 100)).is_ok());
        assert_eq!(
            decode_all_with(&buf, &limits(2, 100)),
            Err(FlvError::Amf0TooDeep { limit: 2 })
        );
        assert_eq!(
            decode_all_with(&[0x05], &limits(0, 100)),
            Ok(vec![Amf0Value::Null])
        );
    }

    #[test]
    fn huge_counts_fail_fast() {
        let buf = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05];
        assert!(matches!(decode_all(&buf), Err(FlvError::Truncated { .. })));
        // ECMA array claiming 4 billion entries with only a few present.
        let mut buf = vec![0x08, 0xff, 0xff, 0xff, 0xff];
        buf.extend_from_slice(&[0x00, 0x01, b'a', 0x05]);
        assert!(matches!(decode_all(&buf), Err(FlvError::Truncated { .. })));
        // Nested, so no end-of-input leniency either.
        let mut buf = vec![0x0a, 0, 0, 0, 1, 0x08, 0xff, 0xff, 0xff, 0xff];
        buf.extend_from_slice(&[0x00, 0x01, b'a', 0x05]);
        assert!(matches!(decode_all(&buf), Err(FlvError::Truncated { .. })));
    }

    #[test]
    fn element_limit() {
        let mut buf = vec![0x0a, 0, 0, 0, 100];
        buf.extend(std::iter::repeat_n(0x05, 100));
        assert_eq!(
            decode_all_with(&buf, &limits(32, 50)),
            Err(FlvError::Amf0TooManyElements { limit: 50 })
        );
        assert!(decode_all_with(&buf, &limits(32, 101)).is_ok());
        assert_eq!(
            decode_all_with(&buf, &limits(32, 100)),
            Err(FlvError::Amf0TooManyElements { limit: 100 })
        );
        // The limit spans all top-level values of one call.
        let nulls = [0x05; 10];
        assert!(decode_all_with(&nulls, &limits(32, 10)).is_ok());
        assert_eq!(
            decode_all_with(&nulls, &limits(32, 9)),
            Err(FlvError::Amf0TooManyElements { limit: 9 })
        );
    }

    #[test]
    fn ecma_count_is_advisory() {
        // Count says 0 but two properties follow, then the end marker (FFmpeg style).
        let buf = [
            0x08, 0, 0, 0, 0, 0x00, 0x01, b'a', 0x05, 0x00, 0x01, b'b', 0x06, 0, 0, 9, 0x05,
        ];
        assert_eq!(
            decode_all(&buf),
            Ok(vec![
                Amf0Value::ecma_array([("a", Amf0Value::Null), ("b", Amf0Value::Undefined)]),
                Amf0Value::Null,
            ])
        );
    }

    #[test]
    fn outermost_missing_object_end_is_tolerated() {
        let obj = [0x03, 0x00, 0x01, b'a', 0x05];
        assert_eq!(
            decode_all(&obj),
            Ok(vec![Amf0Value::object([("a", Amf0Value::Null)])])
        );
        // Empty name then end of input.
        let obj = [0x03, 0x00, 0x01, b'a', 0x05, 0x00, 0x00];
        assert_eq!(
            decode_all(&obj),
            Ok(vec![Amf0Value::object([("a", Amf0Value::Null)])])
        );
        // ECMA array whose declared count was reached.
        let arr = [0x08, 0, 0, 0, 1, 0x00, 0x01, b'a', 0x05];
        assert_eq!(
            decode_all(&arr),
            Ok(vec![Amf0Value::ecma_array([("a", Amf0Value::Null)])])
        );
        // A nested object must still be closed.
        let nested = [0x03, 0x00, 0x01, b'a', 0x03, 0x00, 0x01, b'b', 0x05];
        assert!(matches!(
            decode_all(&nested),
            Err(FlvError::Truncated { .. })
        ));
        // Inside a strict array the object is not outermost either.
        let in_array = [0x0a, 0, 0, 0, 1, 0x03, 0x00, 0x01, b'a', 0x05];
        assert!(matches!(
            decode_all(&in_array),
            Err(FlvError::Truncated { .. })
        ));
        // A half-read property name is truncation, not an end.
        assert!(matches!(
            decode_all(&[0x03, 0x00]),
            Err(FlvError::Truncated { .. })
        ));
    }

    #[test]
    fn empty_name_with_value_is_a_property() {
        let buf = [0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x09];
        assert_eq!(
            decode_all(&buf),
            Ok(vec![Amf0Value::object([("", Amf0Value::Null)])])
        );
    }

    #[test]
    fn typed_object() {
        let v = Amf0Value::TypedObject {
            class_name: "flex.Msg".into(),
            properties: vec![("x".into(), Amf0Value::Number(1.0))],
        };
        let bytes = encode_all(std::slice::from_ref(&v));
        assert_eq!(decode_all(&bytes), Ok(vec![v]));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode_all(&buf);
                let _ = decode_one(&buf, &Amf0Limits::default());
            }

            #[test]
            fn structured_noise_never_panics(
                parts in proptest::collection::vec(
                    prop_oneof![
                        Just(vec![0x03u8]), Just(vec![0x08, 0, 0, 0, 2]), Just(vec![0x0a, 0, 0, 0, 3]),
                        Just(vec![0x00, 0x01, b'k']), Just(vec![0x00, 0x00, 0x09]), Just(vec![0x05]),
                        Just(vec![0x02, 0x00, 0x01, b's']), Just(vec![0x10, 0x00, 0x00]),
                        proptest::collection::vec(any::<u8>(), 0..4),
                    ],
                    0..64,
                )
            ) {
                let buf: Vec<u8> = parts.concat();
                let _ = decode_all(&buf);
            }
        }
    }
}
