//! liu-server
