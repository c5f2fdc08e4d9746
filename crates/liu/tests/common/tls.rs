//! TLS material for the RTMPS / HTTPS tests: certificates the tests make themselves (rcgen).

use std::path::{Path, PathBuf};

/// A certificate for localhost / 127.0.0.1 valid `from`..`until` (years), and a key for it.
pub fn make_cert(dir: &Path, name: &str, from: i32, until: i32) -> (PathBuf, PathBuf) {
    let (c, k, _) = make_cert_with_fingerprint(dir, name, from, until);
    (c, k)
}

/// [`make_cert`], and the certificate's SHA-256 as `AB:CD:...`.
pub fn make_cert_with_fingerprint(
    dir: &Path,
    name: &str,
    from: i32,
    until: i32,
) -> (PathBuf, PathBuf, String) {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cert.der());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    (c, k, hex.join(":"))
}

/// RTMPS and HTTPS on ephemeral ports with `cert` and `key`.
pub fn rtmps_config(cert: &Path, key: &Path) -> String {
    format!(
        "[https]\nlisten = \"127.0.0.1:0\"\n[rtmps]\nlisten = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n",
        cert.to_str().unwrap(),
        key.to_str().unwrap()
    )
}
