//! TLS for `wss://` feeds: the trust settings of an endpoint, built once, and the
//! non-blocking TLS stream the connection's state machine runs WebSocket over.
//!
//! Trust is the platform's certificate store (Mozilla's roots when that store yields no
//! certificate) plus the CA certificates of an optional PEM file. The crypto provider is
//! `ring`, installed in each configuration: nothing depends on a process-wide default.
//!
//! The TLS stream pairs a rustls client with the `mio` socket. It never blocks: a read that
//! needs more bytes from the socket, or a write the socket cannot take, is `WouldBlock`, as
//! on plain TCP, so the TLS handshake and the records are driven by the same readiness
//! events as everything else. Every read and write first pushes out pending TLS records
//! (handshake messages, alerts, earlier writes); `flush` pushes them all or says
//! `WouldBlock`, and is called again when the socket turns writable.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::connection::ConnectionError;

/// The TLS side of a `wss://` endpoint: client configuration and the name the server's
/// certificate must carry. Cheap to clone: reconnects reuse it without reading any file.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl TlsClient {
    /// Settings for connecting to `host` (a DNS name, sent as SNI, or an IP address),
    /// trusting the platform's roots and the certificates in `ca_file`.
    pub fn new(host: &str, ca_file: Option<&Path>) -> Result<Self, ConnectionError> {
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| ConnectionError::BadUrl {
                url: host.to_string(),
                reason: "host is not a valid TLS server name",
            })?;
        Ok(TlsClient {
            config: client_config(ca_file)?,
            server_name,
        })
    }

    /// The rustls client configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name the server's certificate is checked against.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }

    /// Starts a TLS session over a connected socket. Nothing is sent yet: the client hello
    /// goes out with the first read or write.
    pub(crate) fn start(&self, sock: TcpStream) -> Result<TlsStream, ConnectionError> {
        let tls = ClientConnection::new(self.config.clone(), self.server_name.clone())?;
        Ok(TlsStream { tls, sock })
    }
}

/// Builds a client configuration: the `ring` provider, TLS 1.2 and 1.3, the platform's
/// roots plus the certificates of `ca_file`, no client certificate.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, ConnectionError> {
    let roots = match ca_file {
        None => platform_roots(),
        Some(path) => {
            let mut roots = (*platform_roots()).clone();
            for cert in load_ca_file(path)? {
                roots
                    .add(cert)
                    .map_err(|e| ConnectionError::CaFileInvalid {
                        path: path.to_path_buf(),
                        reason: format!("unusable certificate: {e}"),
                    })?;
            }
            Arc::new(roots)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // WebSocket upgrades are HTTP/1.1 requests.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads the certificates of a PEM file (other PEM sections, such as keys, are skipped).
/// A file that cannot be read, is not valid PEM, or holds no certificate is an error
/// naming the file.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConnectionError> {
    let owned = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|source| ConnectionError::CaFileRead {
        path: owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConnectionError::CaFileInvalid {
            path: owned(),
            reason: format!("bad PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(ConnectionError::CaFileEmpty { path: owned() });
    }
    Ok(certs)
}

/// The platform's trusted roots, loaded once per process; Mozilla's roots (compiled in)
/// when the platform store yields no usable certificate.
fn platform_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "platform certificate store");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::info!(
                    ignored,
                    "no platform root certificates; trusting the compiled-in web roots"
                );
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            } else {
                tracing::debug!(added, ignored, "platform root certificates loaded");
            }
            Arc::new(roots)
        })
        .clone()
}

/// A rustls client session over a non-blocking `mio` socket.
pub(crate) struct TlsStream {
    tls: ClientConnection,
    sock: TcpStream,
}

impl TlsStream {
    /// The socket, for (de)registration.
    pub(crate) fn socket_mut(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    /// Queues a close_notify alert and writes what the socket takes now (best effort).
    pub(crate) fn close_notify(&mut self) {
        self.tls.send_close_notify();
        let _ = self.write_pending();
    }

    /// Writes pending TLS records until none is left (`Ok`) or the socket is full
    /// (`WouldBlock`).
    fn write_pending(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Like [`TlsStream::write_pending`], but a full socket is not an error: the rest goes
    /// out on a later call, when the socket is writable again.
    fn write_pending_some(&mut self) -> io::Result<()> {
        match self.write_pending() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }
}

impl Read for TlsStream {
    /// Plaintext already decrypted, else whatever the socket has; `WouldBlock` only after
    /// the socket said so, so edge-triggered readiness is never missed. `Ok(0)` after the
    /// peer's close_notify; `UnexpectedEof` when the socket closes without one.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.write_pending_some()?;
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.sock) {
                // End of stream: recorded by rustls; the next plaintext read reports it.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                // rustls queued an alert telling the peer why; send it if the socket takes it.
                let _ = self.write_pending();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

impl Write for TlsStream {
    /// Encrypts what rustls's send buffer takes (buffered until the handshake is done) and
    /// writes what the socket takes. `WouldBlock` only when the send buffer is full.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_pending_some()?;
        let n = self.tls.writer().write(buf)?;
        self.write_pending_some()?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Writes every pending TLS record, or fails with `WouldBlock` when the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        self.tls.writer().flush()?;
        self.write_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(contents: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents).expect("write temp file");
        f
    }

    #[test]
    fn missing_ca_file_is_an_error_naming_it() {
        let path = Path::new("/nonexistent/tickforge-ca.pem");
        let err = load_ca_file(path).unwrap_err();
        assert!(matches!(err, ConnectionError::CaFileRead { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/tickforge-ca.pem"));
    }

    #[test]
    fn ca_file_without_certificate_is_an_error() {
        let f = temp_file(b"just some text\n");
        let err = load_ca_file(f.path()).unwrap_err();
        assert!(matches!(err, ConnectionError::CaFileEmpty { .. }), "{err}");
        assert!(err.to_string().contains(&f.path().display().to_string()));
    }

    #[test]
    fn truncated_pem_is_an_error() {
        let f = temp_file(b"-----BEGIN CERTIFICATE-----\nMIIB\n");
        let err = load_ca_file(f.path()).unwrap_err();
        assert!(
            matches!(err, ConnectionError::CaFileInvalid { .. }),
            "{err}"
        );
    }

    #[test]
    fn garbage_certificate_is_unusable() {
        let f = temp_file(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = client_config(Some(f.path())).unwrap_err();
        assert!(
            matches!(err, ConnectionError::CaFileInvalid { .. }),
            "{err}"
        );
    }

    #[test]
    fn default_trust_is_not_empty() {
        assert!(!platform_roots().is_empty());
        let client = TlsClient::new("stream.example", None).expect("config");
        assert_eq!(client.config().alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn ip_addresses_are_server_names() {
        let client = TlsClient::new("127.0.0.1", None).expect("config");
        assert!(matches!(client.server_name(), ServerName::IpAddress(_)));
        assert!(TlsClient::new("bad host name!", None).is_err());
    }
}
