//! AMF0 for the raw RTMP client: the values it reads and writes, and command builders.

/// The AMF0 values the raw client writes and reads.
#[derive(Clone, Debug, PartialEq)]
pub enum AmfValue {
    Number(f64),
    Bool(bool),
    Str(String),
    Object(Vec<(String, AmfValue)>),
    Null,
    Undefined,
    Array(Vec<AmfValue>),
}

impl AmfValue {
    pub fn get(&self, key: &str) -> Option<&AmfValue> {
        match self {
            AmfValue::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            AmfValue::Number(n) => amf0::number(out, *n),
            AmfValue::Bool(b) => out.extend_from_slice(&[0x01, *b as u8]),
            AmfValue::Str(s) => amf0::string(out, s),
            AmfValue::Object(props) => {
                amf0::object_start(out);
                for (k, v) in props {
                    amf0::key(out, k);
                    v.encode(out);
                }
                amf0::object_end(out);
            }
            AmfValue::Null => amf0::null(out),
            AmfValue::Undefined => out.push(0x06),
            AmfValue::Array(items) => {
                out.push(0x0a);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                for v in items {
                    v.encode(out);
                }
            }
        }
    }

    /// Decodes one value (objects and ECMA arrays as `Object`, strict arrays as `Array`, dates as
    /// `Number`); None on anything else or truncated input.
    pub fn decode(r: &mut &[u8], depth: usize) -> Option<AmfValue> {
        fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            if r.len() < n {
                return None;
            }
            let (a, b) = r.split_at(n);
            *r = b;
            Some(a)
        }
        fn short_str(r: &mut &[u8]) -> Option<String> {
            let n = u16::from_be_bytes(take(r, 2)?.try_into().ok()?) as usize;
            Some(String::from_utf8_lossy(take(r, n)?).into_owned())
        }
        fn props(r: &mut &[u8], depth: usize) -> Option<Vec<(String, AmfValue)>> {
            let mut out = Vec::new();
            loop {
                let k = short_str(r)?;
                if k.is_empty() && r.first() == Some(&0x09) {
                    *r = &r[1..];
                    return Some(out);
                }
                out.push((k, AmfValue::decode(r, depth + 1)?));
            }
        }
        if depth > 64 {
            return None;
        }
        let marker = take(r, 1)?[0];
        Some(match marker {
            0x00 => AmfValue::Number(f64::from_be_bytes(take(r, 8)?.try_into().ok()?)),
            0x01 => AmfValue::Bool(take(r, 1)?[0] != 0),
            0x02 => AmfValue::Str(short_str(r)?),
            0x03 => AmfValue::Object(props(r, depth)?),
            0x05 => AmfValue::Null,
            0x06 => AmfValue::Undefined,
            0x08 => {
                take(r, 4)?;
                AmfValue::Object(props(r, depth)?)
            }
            0x0a => {
                let n = u32::from_be_bytes(take(r, 4)?.try_into().ok()?) as usize;
                let mut items = Vec::new();
                for _ in 0..n.min(4096) {
                    items.push(AmfValue::decode(r, depth + 1)?);
                }
                AmfValue::Array(items)
            }
            0x0b => {
                let v = f64::from_be_bytes(take(r, 8)?.try_into().ok()?);
                take(r, 2)?;
                AmfValue::Number(v)
            }
            0x0c => {
                let n = u32::from_be_bytes(take(r, 4)?.try_into().ok()?) as usize;
                AmfValue::Str(String::from_utf8_lossy(take(r, n)?).into_owned())
            }
            _ => return None,
        })
    }
}

/// AMF0 writers.
pub mod amf0 {
    pub fn string(out: &mut Vec<u8>, s: &str) {
        out.push(0x02);
        key(out, s);
    }
    /// A property name / bare UTF-8 string (u16 length, bytes).
    pub fn key(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    pub fn number(out: &mut Vec<u8>, n: f64) {
        out.push(0x00);
        out.extend_from_slice(&n.to_be_bytes());
    }
    pub fn null(out: &mut Vec<u8>) {
        out.push(0x05);
    }
    pub fn object_start(out: &mut Vec<u8>) {
        out.push(0x03);
    }
    pub fn object_end(out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0, 9]);
    }
}

/// `connect(1, {app, type, flashVer, tcUrl})` as AMF0.
pub fn connect_command(app: &str, tc_url: &str) -> Vec<u8> {
    let mut p = Vec::new();
    amf0::string(&mut p, "connect");
    amf0::number(&mut p, 1.0);
    amf0::object_start(&mut p);
    for (k, v) in [
        ("app", app),
        ("type", "nonprivate"),
        ("flashVer", "FMLE/3.0 (compatible; liu-tests)"),
        ("tcUrl", tc_url),
    ] {
        amf0::key(&mut p, k);
        amf0::string(&mut p, v);
    }
    amf0::object_end(&mut p);
    p
}
