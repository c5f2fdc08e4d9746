//! Error type shared by every parser in this crate.

/// Everything that can go wrong while parsing AMF0, FLV or the codec
/// records FLV tags carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    /// The input ended before a complete structure could be read.
    #[error("truncated input while reading {what}")]
    Truncated {
        /// What was being read when the input ran out.
        what: &'static str,
    },
    /// An AMF0 type marker that is unknown or reserved (AMF0 spec §2.1).
    #[error("unknown or unsupported AMF0 type marker 0x{0:02x}")]
    Amf0UnknownMarker(u8),
    /// An AMF0 object-end marker (0x09) where a value was expected (AMF0 spec §2.11).
    #[error("unexpected AMF0 object-end marker")]
    Amf0UnexpectedObjectEnd,
    /// Containers nested deeper than the configured limit.
    #[error("AMF0 nesting deeper than the limit of {limit}")]
    Amf0TooDeep {
        /// The configured maximum depth.
        limit: usize,
    },
    /// More values in one decode call than the configured limit.
    #[error("more than {limit} AMF0 values in one decode")]
    Amf0TooManyElements {
        /// The configured maximum number of values.
        limit: usize,
    },
    /// The avmplus-object marker (0x11) switches to AMF3, which is not supported (AMF0 spec §3.1).
    #[error("AMF3 (avmplus-object marker) is not supported")]
    Amf3Unsupported,
    /// A string was not valid UTF-8 (the AMF0 decoder itself is lossy and never returns this).
    #[error("invalid UTF-8 string")]
    InvalidUtf8,
    /// The input does not start with the `FLV` signature (FLV spec E.2).
    #[error("not an FLV stream (bad signature)")]
    NotFlv,
    /// An FLV tag whose body is larger than the configured limit.
    #[error("FLV tag of {size} bytes exceeds the limit of {limit} bytes")]
    TagTooLarge {
        /// DataSize from the tag header.
        size: u32,
        /// The configured limit.
        limit: u32,
    },
    /// Structurally invalid input; the message says what was wrong.
    #[error("invalid data: {0}")]
    Invalid(&'static str),
}

impl From<liu_codec::CodecError> for FlvError {
    fn from(e: liu_codec::CodecError) -> Self {
        match e {
            liu_codec::CodecError::Truncated { what } => FlvError::Truncated { what },
            liu_codec::CodecError::Invalid(why) => FlvError::Invalid(why),
        }
    }
}

/// Result alias used throughout this crate.
pub type Result<T> = std::result::Result<T, FlvError>;
