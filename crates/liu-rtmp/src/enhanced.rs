//! What a client says about Enhanced RTMP in `connect` and what the server
//! answers (Enhanced RTMP v2, "Enhancing NetConnection connect Command"):
//! `fourCcList` (codecs it supports, `"*"` for any), the per-codec flags of
//! `videoFourCcInfoMap` / `audioFourCcInfoMap`, and `capsEx`.

use liu_flv::amf0::Amf0Value;

/// `FourCcInfoMask.CanDecode`.
pub const CAN_DECODE: f64 = 1.0;
/// `FourCcInfoMask.CanForward`.
pub const CAN_FORWARD: u32 = 4;
/// `CapsExMask`: Multitrack, ModEx, TimestampNanoOffset (not Reconnect).
pub const SERVER_CAPS_EX: u32 = 0x02 | 0x04 | 0x08;

/// A client's Enhanced RTMP announcement, from its `connect` command object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnhancedCaps {
    /// The object had `fourCcList`, a FourCC info map or `capsEx`.
    pub announced: bool,
    /// Video FourCCs the client can play (`"*"` for any).
    pub video: Vec<String>,
}

impl EnhancedCaps {
    /// Reads the announcement from a `connect` command object.
    pub fn from_connect(object: &Amf0Value) -> Self {
        let list = object.get("fourCcList");
        let map = object.get("videoFourCcInfoMap");
        let announced = list.is_some()
            || map.is_some()
            || object.get("audioFourCcInfoMap").is_some()
            || object.get("capsEx").is_some();
        let mut video = Vec::new();
        if let Some(Amf0Value::StrictArray(items)) = list {
            video.extend(
                items
                    .iter()
                    .filter_map(Amf0Value::as_str)
                    .map(str::to_string),
            );
        }
        if let Some(props) = map.and_then(Amf0Value::properties) {
            video.extend(
                props
                    .iter()
                    .filter(|(_, flags)| {
                        flags
                            .as_f64()
                            .is_some_and(|f| (f as u32) & (CAN_DECODE as u32) != 0)
                    })
                    .map(|(k, _)| k.clone()),
            );
        }
        // Bounded by the AMF limits of the session; a handful in practice.
        video.truncate(64);
        EnhancedCaps { announced, video }
    }

    /// Whether the client said it can play video in `fourcc`.
    pub fn plays(&self, fourcc: &str) -> bool {
        self.video.iter().any(|v| v == fourcc || v == "*")
    }

    /// The properties a server adds to its `connect` `_result` when the
    /// client announced Enhanced RTMP: it forwards any codec, multitrack
    /// and ModEx.
    pub fn server_properties() -> [(&'static str, Amf0Value); 3] {
        let any = || {
            Amf0Value::Object(vec![(
                "*".into(),
                Amf0Value::Number(f64::from(CAN_FORWARD)),
            )])
        };
        [
            ("videoFourCcInfoMap", any()),
            ("audioFourCcInfoMap", any()),
            ("capsEx", Amf0Value::Number(f64::from(SERVER_CAPS_EX))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_cc_list_and_info_map() {
        let obj = Amf0Value::Object(vec![
            ("app".into(), Amf0Value::String("live".into())),
            (
                "fourCcList".into(),
                Amf0Value::StrictArray(vec![
                    Amf0Value::String("av01".into()),
                    Amf0Value::String("hvc1".into()),
                ]),
            ),
        ]);
        let caps = EnhancedCaps::from_connect(&obj);
        assert!(caps.announced && caps.plays("hvc1") && caps.plays("av01"));
        assert!(!caps.plays("vp09"));
        let obj = Amf0Value::Object(vec![(
            "videoFourCcInfoMap".into(),
            Amf0Value::Object(vec![
                ("*".into(), Amf0Value::Number(4.0)),
                ("hvc1".into(), Amf0Value::Number(3.0)),
            ]),
        )]);
        let caps = EnhancedCaps::from_connect(&obj);
        assert!(caps.plays("hvc1") && !caps.plays("vp09"));
        let caps = EnhancedCaps::from_connect(&Amf0Value::Object(vec![]));
        assert!(!caps.announced && !caps.plays("hvc1"));
        let caps = EnhancedCaps::from_connect(&Amf0Value::Object(vec![(
            "capsEx".into(),
            Amf0Value::Number(1.0),
        )]));
        assert!(caps.announced && !caps.plays("hvc1"));
    }
}
