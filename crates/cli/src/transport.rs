//! The byte links an MQTT session runs over: TCP (`mqtt://`), TLS (`mqtts://`, with the Mozilla
//! root certificates, which include Alibaba Cloud IoT's), and WebSocket (`ws://`, `wss://`,
//! offering the `mqtt` subprotocol as brokers require).

use std::sync::{Arc, OnceLock};

use futures_util::{SinkExt, StreamExt};
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};
use url::Url;

/// A byte stream: TCP or TLS over TCP.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// Where and how to connect, parsed from a broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS on top of TCP.
    pub tls: bool,
    /// WebSocket URL when the link is a WebSocket.
    pub websocket: Option<String>,
    /// The local source address to connect from (`--bind`); the system's choice when absent.
    pub bind: Option<IpAddr>,
}

impl Endpoint {
    /// Parses `mqtt://host[:1883]`, `mqtts://host[:8883]`, `tcp://`, `ssl://`, `ws://host[:80]/mqtt`,
    /// `wss://host[:443]/mqtt`.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let url = Url::parse(text).map_err(|e| format!("broker URL {text:?}: {e}"))?;
        let (tls, ws, default_port) = match url.scheme() {
            "mqtt" | "tcp" => (false, false, 1883),
            "mqtts" | "ssl" | "tls" => (true, false, 8883),
            "ws" => (false, true, 80),
            "wss" => (true, true, 443),
            other => {
                return Err(format!(
                    "broker URL {text:?}: scheme {other:?} is not one of mqtt, mqtts, ws, wss"
                ));
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| format!("broker URL {text:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Endpoint {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            websocket: ws.then(|| text.to_owned()),
            bind: None,
        })
    }
}

/// Reads `--bind`'s values: addresses (`127.0.0.2`, `::1`) and IPv4 ranges
/// (`127.0.0.2-127.0.0.9`), each checked to be an address of this machine (a socket binds to
/// it). At most 65,536 addresses.
pub fn parse_bind(values: &[String]) -> Result<Vec<IpAddr>, String> {
    let mut all = Vec::new();
    for value in values {
        let value = value.trim();
        let parse = |text: &str| -> Result<IpAddr, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("--bind {value:?}: {text:?} is not an IP address"))
        };
        match value.split_once('-') {
            Some((from, to)) => {
                let (IpAddr::V4(from), IpAddr::V4(to)) = (parse(from)?, parse(to)?) else {
                    return Err(format!("--bind {value:?}: ranges are of IPv4 addresses"));
                };
                let (first, last) = (u32::from(from), u32::from(to));
                if last < first || last - first >= 65_536 {
                    return Err(format!(
                        "--bind {value:?}: a range goes up, over at most 65536 addresses"
                    ));
                }
                all.extend((first..=last).map(|a| IpAddr::V4(a.into())));
            }
            None => all.push(parse(value)?),
        }
        if all.len() > 65_536 {
            return Err("--bind: at most 65536 addresses".into());
        }
    }
    for address in &all {
        std::net::TcpListener::bind((*address, 0))
            .map_err(|e| format!("--bind {address}: not an address of this machine ({e})"))?;
    }
    Ok(all)
}

/// TCP to `host:port`, from `bind` when given.
async fn connect_tcp(host: &str, port: u16, bind: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(local) = bind else {
        return TcpStream::connect((host, port)).await;
    };
    let peer = tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("{host} has no address of the family of {local}"),
            )
        })?;
    let socket = if local.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(peer).await
}

/// Extra trusted roots (`--ca`), set once before the first TLS connection.
static EXTRA_ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();

/// Trusts the CA certificates in a PEM file as well as the built-in roots (a private broker's
/// CA). Call before the first connection.
pub fn trust_pem_file(path: &std::path::Path) -> Result<usize, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificates in it", path.display()));
    }
    let n = certs.len();
    EXTRA_ROOTS
        .set(certs)
        .map_err(|_| "the extra CA is already set".to_owned())?;
    Ok(n)
}

/// The TLS client configuration: the built-in roots plus `--ca`.
pub fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            for cert in EXTRA_ROOTS.get().into_iter().flatten() {
                let _ = roots.add(cert.clone());
            }
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                .unwrap_or_else(|_| {
                    // The ring provider supports the default versions; this cannot fail.
                    ClientConfig::builder()
                        .with_root_certificates(RootCertStore::empty())
                        .with_no_client_auth()
                });
            Arc::new(config)
        })
        .clone()
}

/// Opens TCP (and TLS) to `host:port`, from `bind` when given.
pub async fn open_stream(
    host: &str,
    port: u16,
    tls: bool,
    bind: Option<IpAddr>,
) -> std::io::Result<Box<dyn ByteStream>> {
    let tcp = connect_tcp(host, port, bind).await?;
    tcp.set_nodelay(true)?;
    if !tls {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = TlsConnector::from(tls_config()).connect(name, tcp).await?;
    Ok(Box::new(stream))
}

/// An open link to a broker.
pub enum Link {
    /// MQTT bytes on plain TCP, read this many bytes at a time once readable (no buffer is
    /// held while a device waits: thousands of idle devices cost no read buffers).
    Tcp(TcpStream, usize),
    /// MQTT bytes straight on a TLS stream, read this many bytes at a time.
    Stream(Box<dyn ByteStream>, usize),
    /// MQTT bytes in binary WebSocket messages.
    Ws(Box<WebSocketStream<Box<dyn ByteStream>>>),
}

/// Small frames: one MQTT packet rarely exceeds a block reply (a few KiB).
const READ_CHUNK: usize = 2048;

impl Link {
    /// Connects to the endpoint.
    pub async fn open(endpoint: &Endpoint) -> std::io::Result<Link> {
        if !endpoint.tls && endpoint.websocket.is_none() {
            let tcp = connect_tcp(&endpoint.host, endpoint.port, endpoint.bind).await?;
            tcp.set_nodelay(true)?;
            return Ok(Link::Tcp(tcp, READ_CHUNK));
        }
        let stream =
            open_stream(&endpoint.host, endpoint.port, endpoint.tls, endpoint.bind).await?;
        let Some(url) = &endpoint.websocket else {
            return Ok(Link::Stream(stream, READ_CHUNK));
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(std::io::Error::other)?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let config = WebSocketConfig::default().max_message_size(Some(1 << 20));
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(std::io::Error::other)?;
        Ok(Link::Ws(Box::new(ws)))
    }

    /// Reads up to `bytes` at a time from now on (a busy client such as the cloud reads more).
    pub fn set_read_chunk(&mut self, bytes: usize) {
        if let Link::Tcp(_, chunk) | Link::Stream(_, chunk) = self {
            *chunk = bytes.max(1);
        }
    }

    /// Reads the next bytes; an empty vector means the peer closed. Cancel-safe.
    pub async fn read(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            Link::Tcp(tcp, chunk) => loop {
                tcp.readable().await?;
                // The buffer exists only once bytes are there, and is not zeroed first.
                let mut buf = Vec::with_capacity(*chunk);
                match tcp.try_read_buf(&mut buf) {
                    Ok(_) => return Ok(buf),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
            Link::Stream(s, chunk) => {
                // Into spare capacity: nothing to zero first.
                let mut buf = Vec::with_capacity(*chunk);
                s.read_buf(&mut buf).await?;
                Ok(buf)
            }
            Link::Ws(ws) => loop {
                match ws.next().await {
                    None => return Ok(Vec::new()),
                    Some(Err(e)) => return Err(std::io::Error::other(e)),
                    Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
                    Some(Ok(Message::Close(_))) => return Ok(Vec::new()),
                    Some(Ok(_)) => continue,
                }
            },
        }
    }

    /// Writes one MQTT packet.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Tcp(tcp, _) => tcp.write_all(bytes).await,
            Link::Stream(s, _) => s.write_all(bytes).await,
            Link::Ws(ws) => ws
                .send(Message::Binary(bytes.to_vec().into()))
                .await
                .map_err(std::io::Error::other),
        }
    }

    /// Closes the link (best effort).
    pub async fn close(&mut self) {
        match self {
            Link::Tcp(tcp, _) => {
                let _ = tcp.shutdown().await;
            }
            Link::Stream(s, _) => {
                let _ = s.shutdown().await;
            }
            Link::Ws(ws) => {
                let _ = WebSocketStream::close(ws, None).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let e = Endpoint::parse("mqtt://127.0.0.1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls, e.websocket),
            ("127.0.0.1", 1883, false, None)
        );
        let e = Endpoint::parse("mqtts://a1.iot-as-mqtt.cn-shanghai.aliyuncs.com").unwrap();
        assert_eq!((e.port, e.tls), (8883, true));
        let e = Endpoint::parse("wss://h:9443/mqtt").unwrap();
        assert_eq!(
            (e.port, e.tls, e.websocket.as_deref()),
            (9443, true, Some("wss://h:9443/mqtt"))
        );
        assert!(
            Endpoint::parse("http://h")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(Endpoint::parse("not a url").is_err());
    }
}
