//! Error type shared by every parser in this crate.

/// What can be wrong with a codec configuration record or parameter set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended before a complete structure could be read.
    #[error("truncated input while reading {what}")]
    Truncated {
        /// What was being read when the input ran out.
        what: &'static str,
    },
    /// Structurally invalid input; the message says what was wrong.
    #[error("invalid data: {0}")]
    Invalid(&'static str),
}

/// Result alias used throughout this crate.
pub type Result<T> = std::result::Result<T, CodecError>;
