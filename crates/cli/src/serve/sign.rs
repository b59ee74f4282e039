//! The OpenAPI gateway's checks, as Alibaba Cloud's gateway makes them before a call reaches
//! the IoT service: the signature (V3 `ACS3-HMAC-SHA256`, what current SDKs send, and V1
//! `HMAC-SHA1`, older SDKs such as `@alicloud/pop-core`), the AccessKeyId, the timestamp
//! (15 minutes either way) and the nonce (each used once), the API version and the action.
//!
//! Pure functions over a request's parts: the HTTP driver hands them in, [`check`] answers the
//! call's action and parameters or a [`GatewayError`] with the platform's code.

use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The API version of the IoT platform's OpenAPI.
pub const API_VERSION: &str = "2018-01-20";
/// How far a request's time may be from the server's (the platform's window).
pub const CLOCK_SKEW_MS: u64 = 15 * 60 * 1000;
/// The V3 signature algorithm.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// V1's own parameters: they sign the call and are not the action's.
const V1_COMMON: [&str; 10] = [
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Signature",
    "RegionId",
];

/// An AccessKey pair. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AccessKey {
    /// AccessKeyId.
    pub id: String,
    /// AccessKeySecret.
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What the gateway refuses, with the platform's code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// A required parameter or header is missing.
    #[error("{0} is mandatory for this action.")]
    MissingParameter(String),
    /// The request is signed in no form the gateway knows, or a signature part is malformed.
    #[error("The request signature does not conform to Aliyun standards: {0}")]
    IncompleteSignature(String),
    /// The signature does not match the one computed with the AccessKey's secret.
    #[error(
        "Specified signature does not match our calculation. The server string to sign is: {0}"
    )]
    SignatureDoesNotMatch(String),
    /// No such AccessKeyId.
    #[error("Specified access key is not found: {0}")]
    InvalidAccessKeyId(String),
    /// The timestamp is malformed or outside the window.
    #[error("Specified time stamp or date value is expired or invalid: {0}")]
    InvalidTimeStamp(String),
    /// The nonce was used before.
    #[error("Specified signature nonce was used already: {0}")]
    SignatureNonceUsed(String),
    /// A version other than [`API_VERSION`].
    #[error("Specified parameter Version is not valid: {0}")]
    InvalidVersion(String),
    /// No such action.
    #[error("Specified api is not found, please check your url and method: {0}")]
    InvalidAction(String),
    /// A body the gateway cannot read.
    #[error("The request body is malformed: {0}")]
    InvalidParameter(String),
}

impl GatewayError {
    /// The platform's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingParameter(_) => "MissingParameter",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            Self::InvalidAccessKeyId(_) => "InvalidAccessKeyId.NotFound",
            Self::InvalidTimeStamp(_) => "InvalidTimeStamp.Expired",
            Self::SignatureNonceUsed(_) => "SignatureNonceUsed",
            Self::InvalidVersion(_) => "InvalidVersion",
            Self::InvalidAction(_) => "InvalidAction.NotFound",
            Self::InvalidParameter(_) => "InvalidParameter",
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidAccessKeyId(_) | Self::InvalidAction(_) => 404,
            _ => 400,
        }
    }
}

/// A request as the gateway sees it. Header names are lower-case.
pub struct Request<'a> {
    /// `GET`, `POST`…
    pub method: &'a str,
    /// The path (`/`).
    pub path: &'a str,
    /// The query's pairs, decoded, in order.
    pub query: &'a [(String, String)],
    /// Headers, names in lower case.
    pub headers: &'a [(String, String)],
    /// The body's form pairs (a `application/x-www-form-urlencoded` body), decoded.
    pub form: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A call the gateway let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The action (`CreateOTAFirmware`…).
    pub action: String,
    /// Its parameters (query and form body, the signature's own left out).
    pub params: BTreeMap<String, String>,
    /// Which signature it carried.
    pub signature: SignatureVersion,
}

/// Which signature a call carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `ACS3-HMAC-SHA256` in the `Authorization` header.
    V3,
    /// `HMAC-SHA1` in the `Signature` parameter.
    V1,
}

/// Nonces seen in the last [`CLOCK_SKEW_MS`] × 2: a nonce is accepted once.
#[derive(Debug, Default)]
pub struct Nonces {
    seen: HashMap<String, u64>,
}

impl Nonces {
    /// Records `nonce` at `now`; false when it was seen before.
    pub fn admit(&mut self, nonce: &str, now: u64) -> bool {
        if self.seen.len() > 100_000 {
            self.seen
                .retain(|_, at| now.saturating_sub(*at) <= 2 * CLOCK_SKEW_MS);
        }
        match self.seen.get(nonce) {
            Some(at) if now.saturating_sub(*at) <= 2 * CLOCK_SKEW_MS => false,
            _ => {
                self.seen.insert(nonce.to_owned(), now);
                true
            }
        }
    }
}

/// Percent-encodes as the SDKs do (RFC 3986: letters, digits, `-_.~` stay).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hmac_sha256(key: &[u8], text: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&[]).unwrap_or_else(|_| unreachable!())
    });
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], text: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&[]).unwrap_or_else(|_| unreachable!())
    });
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The V3 canonical query: pairs sorted by name, names and values percent-encoded.
fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The V3 string to sign of `request` for the signed headers `signed`.
pub fn v3_string_to_sign(request: &Request<'_>, signed: &[&str], body_hash: &str) -> String {
    let mut headers = String::new();
    for name in signed {
        let values: Vec<&str> = request
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        if request.path.is_empty() {
            "/"
        } else {
            request.path
        },
        canonical_query(request.query),
        headers,
        signed.join(";"),
        body_hash
    );
    format!("{V3_ALGORITHM}\n{}", sha256_hex(canonical.as_bytes()))
}

/// The V3 `Authorization` value for `request` (what a client sends; the tests sign with it).
#[cfg(test)]
pub fn v3_authorization(request: &Request<'_>, key: &AccessKey) -> String {
    let mut signed: Vec<&str> = request.headers.iter().map(|(k, _)| k.as_str()).collect();
    signed.sort_unstable();
    signed.dedup();
    let to_sign = v3_string_to_sign(request, &signed, &sha256_hex(request.body));
    format!(
        "{V3_ALGORITHM} Credential={},SignedHeaders={},Signature={}",
        key.id,
        signed.join(";"),
        hex(&hmac_sha256(key.secret.as_bytes(), to_sign.as_bytes()))
    )
}

/// The V1 string to sign of these parameters (every one but `Signature`).
pub fn v1_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&%2F&{}", percent_encode(&canonical))
}

/// The V1 signature of these parameters.
pub fn v1_signature(method: &str, params: &[(String, String)], secret: &str) -> String {
    use base64::Engine;
    let to_sign = v1_string_to_sign(method, params);
    base64::engine::general_purpose::STANDARD.encode(hmac_sha1(
        format!("{secret}&").as_bytes(),
        to_sign.as_bytes(),
    ))
}

/// Milliseconds since 1970 of an ISO 8601 UTC time (`2026-01-01T00:00:00Z`, fractions
/// allowed).
pub fn parse_utc(text: &str) -> Option<u64> {
    let t = text.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        format!("{digits:0<3}").parse().ok()?
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let total = days * 86_400_000 + hh * 3_600_000 + mm * 60_000 + ss * 1000 + ms;
    u64::try_from(total).ok()
}

/// `2026-01-01T00:00:00.000Z` for `ms` since 1970 (the platform's `Utc*` times).
pub fn format_utc(ms: u64) -> String {
    otalab_sim::model::iso_time(ms)
}

fn check_time(text: &str, now: u64) -> Result<(), GatewayError> {
    let at = parse_utc(text).ok_or_else(|| GatewayError::InvalidTimeStamp(text.to_owned()))?;
    if at.abs_diff(now) > CLOCK_SKEW_MS {
        return Err(GatewayError::InvalidTimeStamp(text.to_owned()));
    }
    Ok(())
}

/// Checks a request's signature, key, time, nonce and version; answers the call.
pub fn check(
    request: &Request<'_>,
    key: &AccessKey,
    nonces: &mut Nonces,
    now: u64,
) -> Result<Call, GatewayError> {
    match request.header("authorization") {
        Some(auth) => check_v3(request, auth, key, nonces, now),
        None => check_v1(request, key, nonces, now),
    }
}

fn check_v3(
    request: &Request<'_>,
    auth: &str,
    key: &AccessKey,
    nonces: &mut Nonces,
    now: u64,
) -> Result<Call, GatewayError> {
    let rest = auth
        .strip_prefix(V3_ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            GatewayError::IncompleteSignature(format!(
                "Authorization must start with {V3_ALGORITHM}"
            ))
        })?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(GatewayError::IncompleteSignature(
            "Authorization needs Credential, SignedHeaders and Signature".into(),
        ));
    };
    let header = |name: &str| {
        request
            .header(name)
            .ok_or_else(|| GatewayError::MissingParameter(name.to_owned()))
    };
    let action = header("x-acs-action")?;
    let version = header("x-acs-version")?;
    let date = header("x-acs-date")?;
    let nonce = header("x-acs-signature-nonce")?;
    if credential != key.id {
        return Err(GatewayError::InvalidAccessKeyId(credential.to_owned()));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    for needed in [
        "host",
        "x-acs-action",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ] {
        if !signed.contains(&needed) {
            return Err(GatewayError::IncompleteSignature(format!(
                "SignedHeaders must include {needed}"
            )));
        }
    }
    let body_hash = sha256_hex(request.body);
    if let Some(claimed) = request.header("x-acs-content-sha256")
        && claimed != body_hash
    {
        return Err(GatewayError::SignatureDoesNotMatch(format!(
            "x-acs-content-sha256 is {claimed}, the body's SHA-256 is {body_hash}"
        )));
    }
    let to_sign = v3_string_to_sign(request, &signed, &body_hash);
    let expected = hex(&hmac_sha256(key.secret.as_bytes(), to_sign.as_bytes()));
    if !same(
        expected.as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(GatewayError::SignatureDoesNotMatch(to_sign));
    }
    check_time(date, now)?;
    if !nonces.admit(nonce, now) {
        return Err(GatewayError::SignatureNonceUsed(nonce.to_owned()));
    }
    if version != API_VERSION {
        return Err(GatewayError::InvalidVersion(version.to_owned()));
    }
    let mut params: BTreeMap<String, String> = request.query.iter().cloned().collect();
    params.extend(request.form.iter().cloned());
    Ok(Call {
        action: action.to_owned(),
        params,
        signature: SignatureVersion::V3,
    })
}

fn check_v1(
    request: &Request<'_>,
    key: &AccessKey,
    nonces: &mut Nonces,
    now: u64,
) -> Result<Call, GatewayError> {
    let all: Vec<(String, String)> = request
        .query
        .iter()
        .chain(request.form.iter())
        .cloned()
        .collect();
    let get = |name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(signature) = get("Signature") else {
        return Err(GatewayError::IncompleteSignature(
            "the request carries no signature: sign it (V3 Authorization header or V1 Signature parameter)"
                .into(),
        ));
    };
    for needed in [
        "AccessKeyId",
        "SignatureMethod",
        "SignatureNonce",
        "Timestamp",
        "Action",
        "Version",
    ] {
        if get(needed).is_none() {
            return Err(GatewayError::MissingParameter(needed.to_owned()));
        }
    }
    let id = get("AccessKeyId").unwrap_or_default();
    if id != key.id {
        return Err(GatewayError::InvalidAccessKeyId(id.to_owned()));
    }
    let method = get("SignatureMethod").unwrap_or_default();
    if method != "HMAC-SHA1" {
        return Err(GatewayError::IncompleteSignature(format!(
            "SignatureMethod {method} is not supported (HMAC-SHA1)"
        )));
    }
    let expected = v1_signature(request.method, &all, &key.secret);
    if !same(expected.as_bytes(), signature.as_bytes()) {
        return Err(GatewayError::SignatureDoesNotMatch(v1_string_to_sign(
            request.method,
            &all,
        )));
    }
    check_time(get("Timestamp").unwrap_or_default(), now)?;
    let nonce = get("SignatureNonce").unwrap_or_default();
    if !nonces.admit(nonce, now) {
        return Err(GatewayError::SignatureNonceUsed(nonce.to_owned()));
    }
    let version = get("Version").unwrap_or_default();
    if version != API_VERSION {
        return Err(GatewayError::InvalidVersion(version.to_owned()));
    }
    let params = all
        .iter()
        .filter(|(k, _)| !V1_COMMON.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(Call {
        action: get("Action").unwrap_or_default().to_owned(),
        params,
        signature: SignatureVersion::V1,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> AccessKey {
        AccessKey {
            id: "LTAIotalab".into(),
            secret: "s3cret".into(),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NOW: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn utc_times_both_ways() {
        assert_eq!(parse_utc("2026-01-01T00:00:00Z"), Some(NOW));
        assert_eq!(format_utc(NOW), "2026-01-01T00:00:00.000Z");
        assert_eq!(parse_utc("2026-01-01T00:00:01.5Z"), Some(NOW + 1500));
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_utc("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }

    #[test]
    fn encodes_like_the_sdks() {
        assert_eq!(percent_encode("a b*~/é"), "a%20b%2A~%2F%C3%A9");
    }

    fn v3_request<'a>(
        query: &'a [(String, String)],
        headers: &'a [(String, String)],
    ) -> Request<'a> {
        Request {
            method: "POST",
            path: "/",
            query,
            headers,
            form: &[],
            body: b"",
        }
    }

    fn v3_headers(nonce: &str) -> Vec<(String, String)> {
        pairs(&[
            ("host", "127.0.0.1:8689"),
            ("x-acs-action", "QueryOTAJob"),
            ("x-acs-version", API_VERSION),
            ("x-acs-date", "2026-01-01T00:00:00Z"),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-content-sha256", &sha256_hex(b"")),
        ])
    }

    #[test]
    fn v3_round_trip_and_refusals() {
        let query = pairs(&[("JobId", "job 1")]);
        let mut headers = v3_headers("n1");
        let auth = v3_authorization(&v3_request(&query, &headers), &key());
        headers.push(("authorization".into(), auth.clone()));
        let mut nonces = Nonces::default();
        let call = check(&v3_request(&query, &headers), &key(), &mut nonces, NOW).unwrap();
        assert_eq!(call.action, "QueryOTAJob");
        assert_eq!(call.params["JobId"], "job 1");
        // The same nonce again.
        let again = check(&v3_request(&query, &headers), &key(), &mut nonces, NOW).unwrap_err();
        assert_eq!(again.code(), "SignatureNonceUsed");
        // A changed parameter.
        let other = pairs(&[("JobId", "job 2")]);
        let e = check(
            &v3_request(&other, &headers),
            &key(),
            &mut Nonces::default(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        // A wrong secret.
        let wrong = AccessKey {
            secret: "other".into(),
            ..key()
        };
        let e = check(
            &v3_request(&query, &headers),
            &wrong,
            &mut Nonces::default(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        assert_eq!(e.status(), 400);
        // Too late.
        let e = check(
            &v3_request(&query, &headers),
            &key(),
            &mut Nonces::default(),
            NOW + CLOCK_SKEW_MS + 1,
        )
        .unwrap_err();
        assert_eq!(e.code(), "InvalidTimeStamp.Expired");
        // Another key id.
        let stranger = AccessKey {
            id: "LTAIstranger".into(),
            ..key()
        };
        let e = check(
            &v3_request(&query, &headers),
            &stranger,
            &mut Nonces::default(),
            NOW,
        )
        .unwrap_err();
        assert_eq!((e.code(), e.status()), ("InvalidAccessKeyId.NotFound", 404));
    }

    #[test]
    fn v1_round_trip_and_refusals() {
        let mut params = pairs(&[
            ("Action", "QueryOTAJob"),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", "LTAIotalab"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "abc"),
            ("Timestamp", "2026-01-01T00:00:00Z"),
            ("JobId", "j1"),
        ]);
        let signature = v1_signature("GET", &params, "s3cret");
        params.push(("Signature".into(), signature));
        let request = Request {
            method: "GET",
            path: "/",
            query: &params,
            headers: &[],
            form: &[],
            body: b"",
        };
        let call = check(&request, &key(), &mut Nonces::default(), NOW).unwrap();
        assert_eq!(call.action, "QueryOTAJob");
        assert_eq!(call.params.len(), 1);
        assert_eq!(call.signature, SignatureVersion::V1);
        let unsigned = Request {
            query: &params[..params.len() - 1],
            ..request
        };
        let e = check(&unsigned, &key(), &mut Nonces::default(), NOW).unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature");
    }

    mod any_request {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]
            /// Any request gets an answer (a call or a coded refusal), never a panic.
            #[test]
            fn any_request_is_answered(
                method in "[A-Z]{0,7}",
                query in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..8),
                headers in proptest::collection::vec(
                    (proptest::sample::select(vec![
                        "authorization", "x-acs-action", "x-acs-version", "x-acs-date",
                        "x-acs-signature-nonce", "x-acs-content-sha256", "host",
                    ]).prop_map(str::to_owned), "\\PC{0,80}"),
                    0..8,
                ),
                body in proptest::collection::vec(any::<u8>(), 0..64),
            ) {
                let query: Vec<(String, String)> = query;
                let request = Request { method: &method, path: "/", query: &query, headers: &headers, form: &query, body: &body };
                let answer = check(&request, &key(), &mut Nonces::default(), NOW);
                if let Err(e) = answer {
                    prop_assert!(!e.code().is_empty());
                    prop_assert!(matches!(e.status(), 400 | 404));
                }
            }

            /// A signed V3 call is accepted; change one character of its signature, of a
            /// parameter or of a signed header and it is refused.
            #[test]
            fn tampering_is_refused(value in "[a-zA-Z0-9 ./-]{1,20}", at in any::<prop::sample::Index>(), which in 0..3usize) {
                let query = pairs(&[("ProductKey", "a1pk"), ("DeviceName", &value)]);
                let mut headers = v3_headers("nonce");
                let auth = v3_authorization(&v3_request(&query, &headers), &key());
                let mut signed = headers.clone();
                signed.push(("authorization".into(), auth.clone()));
                prop_assert!(check(&v3_request(&query, &signed), &key(), &mut Nonces::default(), NOW).is_ok());
                let flip = |text: &str, i: usize| -> String {
                    let mut chars: Vec<char> = text.chars().collect();
                    let i = i % chars.len();
                    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
                    chars.into_iter().collect()
                };
                let mut query2 = query.clone();
                match which {
                    0 => {
                        let sig_at = auth.rfind('=').unwrap_or(0) + 1;
                        let tail = flip(&auth[sig_at..], at.index(64));
                        headers.push(("authorization".into(), format!("{}{tail}", &auth[..sig_at])));
                    }
                    1 => {
                        query2[1].1 = flip(&value, at.index(value.len()));
                        headers.push(("authorization".into(), auth));
                    }
                    _ => {
                        headers[4].1 = flip("nonce", at.index(5));
                        headers.push(("authorization".into(), auth));
                    }
                }
                let e = check(&v3_request(&query2, &headers), &key(), &mut Nonces::default(), NOW);
                prop_assert_eq!(e.map(|c| c.action).map_err(|e| e.code()), Err("SignatureDoesNotMatch"));
            }
        }
    }
}
