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

/// A local TLS client relay (what stunnel does): plain TCP accepted on `addr()` is carried over
/// TLS to `upstream`, verifying the server against `ca` (the test's own certificate) for
/// `localhost`. A client of plain `rtmpt://` pointed at the relay thus speaks RTMPTS to Liu's
/// HTTPS listener: the tunnel is the real client's, only the TLS layer is the relay's.
pub struct TlsRelay {
    addr: String,
    _runtime: tokio::runtime::Runtime,
}

impl TlsRelay {
    pub fn start(upstream: &str, ca: &Path) -> TlsRelay {
        use rustls::pki_types::ServerName;
        let connector = tokio_rustls::TlsConnector::from(client_config(ca));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_string();
        runtime.spawn(async move {
            while let Ok((mut plain, _)) = listener.accept().await {
                let (connector, upstream) = (connector.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(tcp) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let name = ServerName::try_from("localhost").unwrap();
                    match connector.connect(name, tcp).await {
                        Ok(mut tls) => {
                            let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
                        }
                        Err(e) => eprintln!("tls relay: handshake with {upstream}: {e}"),
                    }
                });
            }
        });
        TlsRelay {
            addr,
            _runtime: runtime,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// A TLS client configuration trusting only `ca` (a PEM file).
pub fn client_config(ca: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(config)
}

/// A TLS handshake with `addr` as `localhost`, trusting only `ca`: Ok if the server presents
/// that certificate.
pub fn tls_handshake(addr: &str, ca: &Path) -> Result<(), String> {
    use rustls::pki_types::ServerName;
    let mut tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(client_config(ca), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(())
}
