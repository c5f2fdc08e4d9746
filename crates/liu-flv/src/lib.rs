//! liu-flv
