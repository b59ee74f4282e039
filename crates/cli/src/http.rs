//! HTTP/1.1 downloads over hyper: GET with `Range: bytes=N-` to resume, the body streamed in
//! chunks (never buffered whole unless asked, with a limit), over TCP or TLS.

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use url::Url;

use crate::transport::open_stream;

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

/// A response whose body is being read.
pub struct Body {
    body: Incoming,
    url: String,
}

impl Body {
    /// The next chunk, `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Bytes, HttpError>> {
        loop {
            match self.body.frame().await? {
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
    let tls = match parsed.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(HttpError::Url {
                url: url.to_owned(),
                reason: format!("scheme {other:?}: only http and https are fetched"),
            });
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let io = |e: &dyn std::fmt::Display| HttpError::Io {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let stream = open_stream(&host, port, tls).await.map_err(|e| io(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| io(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let host_header = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let mut request = Request::get(path)
        .header(hyper::header::HOST, host_header)
        .header(hyper::header::USER_AGENT, "otalab");
    if offset > 0 {
        request = request.header(hyper::header::RANGE, format!("bytes={offset}-"));
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|e| io(&e))?;
    let response = sender.send_request(request).await.map_err(|e| io(&e))?;
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
    let mut body = get(url, 0).await?;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(HttpError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
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
