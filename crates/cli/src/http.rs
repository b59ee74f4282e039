//! HTTP/1.1 downloads: GET with `Range: bytes=N-` to resume, the body streamed in chunks
//! (never buffered whole unless asked, with a limit), over TCP or TLS, through one pooled
//! hyper client for the whole process (connections are kept alive and reused, reads use
//! fixed 16 KiB buffers so thousands of downloads stay small).

use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not an http(s) URL.
    #[error("URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Connecting or talking to the server failed.
    #[error("{url}: {reason}")]
    Io {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// A resumed request was answered from byte 0 or another offset.
    #[error("{url}: asked for bytes from {offset}, the server sent {got}")]
    Range {
        /// The URL.
        url: String,
        /// Offset asked for.
        offset: u64,
        /// What the server answered (status or Content-Range).
        got: String,
    },
    /// The body is larger than allowed.
    #[error("{url}: more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
}

impl HttpError {
    /// The HTTP status, when the server sent one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

type Pool = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The process's HTTP client (trusting what [`crate::transport`] trusts).
fn client() -> &'static Pool {
    static CLIENT: OnceLock<Pool> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*crate::transport::tls_config()).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_read_buf_exact_size(64 * 1024)
            .build(https)
    })
}

/// How long a server may take to answer, or to send the next piece of a body.
const STALL: Duration = Duration::from_secs(30);

/// A response whose body is being read.
pub struct Body {
    body: Incoming,
    url: String,
}

impl Body {
    /// The next chunk, `None` at the end; an error when the server stalls for 30 s.
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Bytes, HttpError>> {
        loop {
            let frame = match tokio::time::timeout(STALL, self.body.frame()).await {
                Ok(frame) => frame?,
                Err(_) => {
                    return Some(Err(HttpError::Io {
                        url: self.url.clone(),
                        reason: format!("no data for {} s", STALL.as_secs()),
                    }));
                }
            };
            match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => return Some(Ok(data)),
                    Err(_) => continue, // trailers
                },
                Err(e) => {
                    return Some(Err(HttpError::Io {
                        url: self.url.clone(),
                        reason: e.to_string(),
                    }));
                }
            }
        }
    }
}

/// GET `url` from byte `offset` (a `Range` request when > 0); returns the body to stream once
/// the status is right (200 from 0, 206 from the offset asked for).
pub async fn get(url: &str, offset: u64) -> Result<Body, HttpError> {
    let parsed = Url::parse(url).map_err(|e| HttpError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(HttpError::Url {
            url: url.to_owned(),
            reason: format!(
                "scheme {:?}: only http and https are fetched",
                parsed.scheme()
            ),
        });
    }
    let io = |e: &dyn std::fmt::Display| HttpError::Io {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let mut request = Request::get(url).header(hyper::header::USER_AGENT, "otalab");
    if offset > 0 {
        request = request.header(hyper::header::RANGE, format!("bytes={offset}-"));
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|e| io(&e))?;
    let response = tokio::time::timeout(STALL, client().request(request))
        .await
        .map_err(|_| io(&format!("no answer within {} s", STALL.as_secs())))?
        .map_err(|e| {
            // The connector's error is the useful part ("connection refused", a TLS failure).
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                reason = format!("{reason}: {inner}");
                source = inner.source();
            }
            io(&reason)
        })?;
    let status = response.status();
    let ok = if offset == 0 {
        status == StatusCode::OK
    } else {
        status == StatusCode::PARTIAL_CONTENT
    };
    if !ok {
        if status.is_success() {
            return Err(HttpError::Range {
                url: url.to_owned(),
                offset,
                got: status.to_string(),
            });
        }
        return Err(HttpError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    if offset > 0 {
        let range = response
            .headers()
            .get(hyper::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let starts = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse::<u64>().ok());
        if starts != Some(offset) {
            return Err(HttpError::Range {
                url: url.to_owned(),
                offset,
                got: format!("Content-Range {range:?}"),
            });
        }
    }
    Ok(Body {
        body: response.into_body(),
        url: url.to_owned(),
    })
}

/// GET the whole body of `url`, refusing more than `limit` bytes.
pub async fn get_all(url: &str, limit: usize) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    for_each_chunk(url, limit as u64, |chunk| out.extend_from_slice(chunk)).await?;
    Ok(out)
}

/// Streams `url` through `f` chunk by chunk (constant memory), refusing more than `limit` bytes.
pub async fn for_each_chunk(
    url: &str,
    limit: u64,
    mut f: impl FnMut(&[u8]),
) -> Result<u64, HttpError> {
    let mut body = get(url, 0).await?;
    let mut total = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(HttpError::TooLarge {
                url: url.to_owned(),
                limit: limit as usize,
            });
        }
        f(&chunk);
    }
    Ok(total)
}
