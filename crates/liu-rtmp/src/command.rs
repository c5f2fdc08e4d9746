//! NetConnection and NetStream command messages (RTMP §7.1.1, §7.2).
//!
//! A command is an AMF0 sequence: name, transaction id, command object,
//! then optional arguments. Type 17 (AMF3) commands carry one format byte
//! before the same AMF0 body, which is how FFmpeg and Flash send them.

use liu_flv::amf0::{self, Amf0Limits, Amf0Value};

use crate::RtmpError;

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction_id: f64,
    /// The command object; `Null` for most NetStream commands.
    pub object: Amf0Value,
    pub args: Vec<Amf0Value>,
}

impl Command {
    pub fn new(name: &str, transaction_id: f64, object: Amf0Value, args: Vec<Amf0Value>) -> Self {
        Command {
            name: name.to_string(),
            transaction_id,
            object,
            args,
        }
    }

    /// Parses an AMF0 command body (RTMP §7.1.1).
    pub fn parse(payload: &[u8], limits: &Amf0Limits) -> Result<Self, RtmpError> {
        let values = amf0::decode_all_with(payload, limits).map_err(|source| RtmpError::Amf {
            context: "command",
            source,
        })?;
        let mut values = values.into_iter();
        let name = match values.next() {
            Some(Amf0Value::String(s)) | Some(Amf0Value::LongString(s)) => s,
            _ => return Err(RtmpError::Malformed("command without a name")),
        };
        let transaction_id = match values.next() {
            Some(Amf0Value::Number(n)) => n,
            None => 0.0,
            // Some encoders send a non-number here for notifications.
            Some(_) => 0.0,
        };
        let object = values.next().unwrap_or(Amf0Value::Null);
        Ok(Command {
            name,
            transaction_id,
            object,
            args: values.collect(),
        })
    }

    /// Appends the AMF0 encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        amf0::encode(&Amf0Value::String(self.name.clone()), out);
        amf0::encode(&Amf0Value::Number(self.transaction_id), out);
        amf0::encode(&self.object, out);
        for arg in &self.args {
            amf0::encode(arg, out);
        }
    }

    /// The `i`th argument after the command object, if it is a string.
    pub fn arg_str(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(Amf0Value::as_str)
    }

    /// The `i`th argument after the command object, if it is a number.
    pub fn arg_f64(&self, i: usize) -> Option<f64> {
        self.args.get(i).and_then(Amf0Value::as_f64)
    }
}

/// The info object of an `onStatus` or `_error` answer (RTMP §7.2.2).
pub fn status_info(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::object([
        ("level", Amf0Value::string(level)),
        ("code", Amf0Value::string(code)),
        ("description", Amf0Value::string(description)),
    ])
}

/// Splits `name?query` into the name and the query (without `?`).
///
/// Query strings carry tokens for authentication; they are never part of a
/// stream or application name.
pub fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((name, query)) => (name, Some(query)),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cmd = Command::new(
            "connect",
            1.0,
            Amf0Value::object([("app", Amf0Value::string("live"))]),
            vec![Amf0Value::Boolean(true)],
        );
        let mut buf = Vec::new();
        cmd.encode(&mut buf);
        assert_eq!(Command::parse(&buf, &Amf0Limits::default()).unwrap(), cmd);
    }

    #[test]
    fn nameless_is_an_error() {
        let mut buf = Vec::new();
        amf0::encode(&Amf0Value::Number(1.0), &mut buf);
        assert!(Command::parse(&buf, &Amf0Limits::default()).is_err());
        assert!(Command::parse(&[], &Amf0Limits::default()).is_err());
    }

    #[test]
    fn query_split() {
        assert_eq!(split_query("cam?token=1&x=2"), ("cam", Some("token=1&x=2")));
        assert_eq!(split_query("cam"), ("cam", None));
    }
}
