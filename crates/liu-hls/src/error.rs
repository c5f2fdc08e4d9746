//! Error type of the crate.

/// Everything the muxers reject. Each error concerns one call: the muxer stays
/// usable and the caller may drop the sample and go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HlsError {
    /// A sample without any data.
    #[error("empty {0} sample")]
    EmptySample(&'static str),
    /// The data ended inside a NAL unit length prefix.
    #[error("truncated NAL unit length prefix at offset {offset}")]
    TruncatedNalLength {
        /// Offset of the prefix in the sample data.
        offset: usize,
    },
    /// A NAL unit length of zero, or larger than the bytes left in the sample.
    #[error("bad NAL unit length {len} at offset {offset} ({remaining} bytes left)")]
    BadNalLength {
        /// Offset of the length prefix in the sample data.
        offset: usize,
        /// The length read.
        len: usize,
        /// Bytes left after the prefix.
        remaining: usize,
    },
    /// `nal_length_size` is not 1, 2, 3 or 4.
    #[error("unsupported NAL unit length size {0}")]
    BadNalLengthSize(u8),
    /// An audio configuration ADTS cannot carry (ISO/IEC 14496-3 1.A.2.2).
    #[error("unsupported audio configuration: {0}")]
    UnsupportedAudioConfig(&'static str),
    /// A video codec the container cannot carry.
    #[error("unsupported video: {0}")]
    UnsupportedVideo(&'static str),
    /// An AAC access unit too large for one ADTS frame (13-bit `aac_frame_length`).
    #[error("AAC access unit of {0} bytes does not fit an ADTS frame")]
    AudioFrameTooLarge(usize),
    /// A sample for a stream the muxer was not configured with.
    #[error("no {0} stream configured")]
    NoSuchStream(&'static str),
    /// A muxer needs at least one stream.
    #[error("neither audio nor video configured")]
    NoStreams,
    /// An H.264 sequence parameter set that is missing or does not parse,
    /// naming the field where it failed.
    #[error("bad H.264 sequence parameter set: {0}")]
    Sps(&'static str),
    /// A movie fragment without any sample.
    #[error("movie fragment without samples")]
    EmptyFragment,
    /// A track ID of 0 (ISO/IEC 14496-12 §8.3.2.3 reserves it).
    #[error("invalid track ID {0}")]
    BadTrackId(u32),
    /// A box, fragment or sample count too large for its 32-bit field (bytes or count).
    #[error("{0} is too large for an MP4 box field")]
    TooLarge(usize),
    /// An FLV tag body that does not parse.
    #[error(transparent)]
    Flv(#[from] liu_flv::FlvError),
    /// A codec configuration or parameter set that does not parse.
    #[error(transparent)]
    Codec(#[from] liu_codec::CodecError),
}
