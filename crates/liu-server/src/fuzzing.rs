//! Entry points for the fuzz targets (`fuzz/`): the parsers Liu's HTTP
//! listener runs on what a client sends, reachable without a socket.

/// `data` up to its first NUL is a request head for Liu's own HTTP loop;
/// the rest, as text, a request target: its path as an HTTP-FLV and an
/// HLS path, its query as HLS delivery directives.
pub fn http_request(data: &[u8]) {
    let (head, target) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    crate::http::fuzz_request(head, &String::from_utf8_lossy(target));
}
