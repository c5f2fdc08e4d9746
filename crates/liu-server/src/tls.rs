//! TLS for RTMPS: rustls with the `ring` provider, TLS 1.2 and 1.3, a
//! certificate chain and key from PEM files (or a self-signed certificate
//! for development), replaced without a restart by [`TlsSetup::reload`]:
//! on SIGHUP, and when the files change ([`TlsSetup::watch_files`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

/// Why a certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    Pem { path: PathBuf, why: String },
    #[error("the key in {} does not match the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in {} expired on {expired} (UTC)", path.display())]
    Expired { path: PathBuf, expired: String },
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The TLS acceptor and the certificate it serves, replaceable at run time.
pub struct TlsSetup {
    acceptor: TlsAcceptor,
    resolver: Arc<CertResolver>,
    source: CertSource,
    fingerprint: RwLock<String>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug)]
struct CertResolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl TlsSetup {
    /// Loads the certificate (checked: readable, a key that matches, not
    /// expired) and builds the acceptor.
    pub fn new(source: CertSource) -> Result<Self, TlsError> {
        let (key, fingerprint) = load(&source)?;
        let resolver = Arc::new(CertResolver(RwLock::new(Arc::new(key))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        Ok(TlsSetup {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            resolver,
            source,
            fingerprint: RwLock::new(fingerprint),
        })
    }

    /// The server side of a TLS handshake, bounded by `limit`; `None`, with
    /// one log line naming `what` (RTMPS, HTTPS), if it fails.
    pub async fn accept(
        &self,
        socket: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        limit: std::time::Duration,
        what: &str,
    ) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
        match tokio::time::timeout(limit, self.acceptor.accept(socket)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                crate::repeats::note(
                    "TLS handshake failed",
                    crate::repeats::Level::Info,
                    Some(peer.ip()),
                    format_args!("{what}: TLS handshake failed ({peer}): {e}"),
                );
                None
            }
            Err(_) => {
                crate::repeats::note(
                    "no TLS handshake in time",
                    crate::repeats::Level::Info,
                    Some(peer.ip()),
                    format_args!("{what}: no TLS handshake from {peer} within {limit:?}"),
                );
                None
            }
        }
    }

    /// SHA-256 of the leaf certificate, as `AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again; new connections get the new certificate. On
    /// an error the old one stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (key, fingerprint) = load(&self.source)?;
        *self.resolver.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        *self.fingerprint.write().unwrap_or_else(|e| e.into_inner()) = fingerprint;
        Ok(())
    }
}

impl TlsSetup {
    /// [`TlsSetup::reload`] with one log line saying `why` and the outcome.
    pub fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(
                "RTMPS certificate reloaded (SHA-256 {}), {why}",
                self.fingerprint()
            ),
            Err(e) => {
                tracing::warn!("RTMPS certificate not reloaded ({why}), the old one stays: {e}")
            }
        }
    }

    /// Reloads whenever the certificate or key file changes (modification
    /// time or size), looking every `every`. Returns at once for a
    /// self-signed certificate. A pair caught half-written fails to load
    /// (the key does not match) and is loaded at the next change.
    pub async fn watch_files(self: Arc<Self>, every: Duration) {
        let CertSource::Files { cert, key } = &self.source else {
            return;
        };
        let stamp = || [file_stamp(cert), file_stamp(key)];
        let mut last = stamp();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = stamp();
            if now != last {
                last = now;
                self.reload_logged("the files changed");
            }
        }
    }
}

/// A file's modification time and size, if it can be read.
fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn load(source: &CertSource) -> Result<(CertifiedKey, String), TlsError> {
    let (certs, key, cert_path, key_path) = match source {
        CertSource::Files { cert, key } => {
            let certs = read_certs(cert)?;
            (certs, read_key(key)?, cert.clone(), key.clone())
        }
        CertSource::SelfSigned => {
            let names = vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ];
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
            let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
                .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
            let path = PathBuf::from("(self-signed)");
            (vec![made.cert.der().clone()], key, path.clone(), path)
        }
    };
    let leaf = certs[0].clone();
    if let Some(not_after) = der::not_after(&leaf)
        && not_after < unix_now()
    {
        return Err(TlsError::Expired {
            path: cert_path,
            expired: der::format_unix(not_after),
        });
    }
    let signing = any_supported_type(&key)?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert_path,
        key: key_path,
    })?;
    Ok((certified, fingerprint(&leaf)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            why: "no CERTIFICATE in it".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        why: format!("no usable private key ({e})"),
    })
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let mut out = String::with_capacity(95);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Just enough DER (X.690) to find a certificate's `notAfter`
/// (RFC 5280 section 4.1.2.5).
mod der {
    /// One TLV at the start of `data`: (tag, contents, rest).
    fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = data.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    /// `notAfter` of a certificate, in Unix seconds.
    pub fn not_after(cert: &[u8]) -> Option<i64> {
        let (0x30, cert, _) = tlv(cert)? else {
            return None;
        };
        let (0x30, tbs, _) = tlv(cert)? else {
            return None;
        };
        let mut rest = tbs;
        // [0] version (optional), serialNumber, signature, issuer.
        let (tag, _, r) = tlv(rest)?;
        rest = r;
        if tag == 0xa0 {
            rest = tlv(rest)?.2;
        }
        rest = tlv(rest)?.2;
        rest = tlv(rest)?.2;
        let (0x30, validity, _) = tlv(rest)? else {
            return None;
        };
        let (_, _, after) = tlv(validity)?;
        let (tag, time, _) = tlv(after)?;
        parse_time(tag, std::str::from_utf8(time).ok()?)
    }

    /// UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime
    /// `YYYYMMDDHHMMSSZ`.
    fn parse_time(tag: u8, s: &str) -> Option<i64> {
        let s = s.strip_suffix('Z')?;
        let (year, rest) = match (tag, s.len()) {
            (0x17, 12) => {
                let yy: i64 = s[..2].parse().ok()?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
            }
            (0x18, 14) => (s[..4].parse().ok()?, &s[4..]),
            _ => return None,
        };
        let num = |i: usize| rest.get(i..i + 2)?.parse::<i64>().ok();
        let (month, day) = (num(0)?, num(2)?);
        let secs = num(4)? * 3600 + num(6)? * 60 + num(8)?;
        Some(days_from_civil(year, month, day) * 86_400 + secs)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Unix seconds as `YYYY-MM-DD HH:MM:SS`.
    pub fn format_unix(t: i64) -> String {
        let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn dates_round_trip() {
            assert_eq!(days_from_civil(1970, 1, 1), 0);
            assert_eq!(days_from_civil(2000, 3, 1), 11_017);
            assert_eq!(parse_time(0x17, "491231235959Z"), Some(2_524_607_999));
            assert_eq!(parse_time(0x18, "20261125120000Z"), Some(1_795_608_000));
            assert_eq!(format_unix(1_795_608_000), "2026-11-25 12:00:00");
            assert_eq!(parse_time(0x17, "2612Z"), None);
            assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate for localhost valid from `from` to `until` (years), and its key.
    fn pair(from: i32, until: i32) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn files(dir: &Path, name: &str, (cert, key): &(String, String)) -> CertSource {
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        CertSource::Files { cert: c, key: k }
    }

    #[test]
    fn loads_checks_and_reloads_certificates() {
        let dir = std::env::temp_dir().join(format!("liu-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = pair(2020, 2099);
        let source = files(&dir, "good", &good);
        let tls = TlsSetup::new(source.clone()).unwrap();
        let first = tls.fingerprint();
        assert_eq!(first.len(), 95);
        // A new certificate in the same files: reload serves it.
        files(&dir, "good", &pair(2020, 2099));
        tls.reload().unwrap();
        assert_ne!(tls.fingerprint(), first);
        // A broken file on reload keeps the old certificate.
        let CertSource::Files { cert, key } = &source else {
            unreachable!()
        };
        std::fs::write(cert, "garbage").unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::Pem { .. })));

        let expired = files(&dir, "expired", &pair(2000, 2001));
        let e = TlsSetup::new(expired).unwrap_err();
        assert!(
            e.to_string().contains("expired on 2001-01-01 00:00:00"),
            "{e}"
        );
        let other = pair(2020, 2099);
        let CertSource::Files {
            cert: other_cert, ..
        } = files(&dir, "other", &other)
        else {
            unreachable!()
        };
        let mismatch = CertSource::Files {
            cert: other_cert,
            key: key.clone(),
        };
        std::fs::write(key, &good.1).unwrap();
        assert!(matches!(
            TlsSetup::new(mismatch),
            Err(TlsError::Mismatch { .. })
        ));
        let missing = CertSource::Files {
            cert: dir.join("nope.crt"),
            key: key.clone(),
        };
        assert!(matches!(TlsSetup::new(missing), Err(TlsError::Read { .. })));
        assert!(TlsSetup::new(CertSource::SelfSigned).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
