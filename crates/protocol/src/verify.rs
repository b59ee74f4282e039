//! Streaming firmware verification: size and MD5/SHA-256 digest, checked while bytes arrive.

use digest::Digest as _;

use crate::error::VerifyError;
use crate::value::{Digest, SignMethod};

/// The running hash.
#[derive(Clone)]
enum Hasher {
    Md5(md5::Md5),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(method: SignMethod) -> Self {
        match method {
            SignMethod::Md5 => Self::Md5(md5::Md5::new()),
            SignMethod::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        match self {
            Self::Md5(h) => h.update(chunk),
            Self::Sha256(h) => h.update(chunk),
        }
    }

    fn finish_hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Self::Md5(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        };
        to_hex(&bytes)
    }
}

/// Lowercase hex of bytes.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Bytes received (equal to the expected size).
    pub size: u64,
    /// The digest (lowercase hex, equal to the expected one).
    pub digest: String,
}

/// Verifies one firmware file as it streams in, in constant memory.
///
/// ```
/// use otalab_protocol::{Digest, FirmwareVerifier, SignMethod};
///
/// let method = SignMethod::Md5;
/// let expected = Digest::parse(method, "5D41402ABC4B2A76B9719D911017C592").unwrap(); // md5("hello")
/// let mut verifier = FirmwareVerifier::new(5, method, expected);
/// verifier.update(b"he").unwrap();
/// verifier.update(b"llo").unwrap();
/// assert_eq!(verifier.received(), 5);
/// assert_eq!(verifier.finish().unwrap().digest, "5d41402abc4b2a76b9719d911017c592");
/// ```
#[derive(Clone)]
pub struct FirmwareVerifier {
    expected_size: u64,
    method: SignMethod,
    expected_digest: Digest,
    received: u64,
    hasher: Hasher,
}

impl std::fmt::Debug for FirmwareVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirmwareVerifier")
            .field("expected_size", &self.expected_size)
            .field("method", &self.method)
            .field("expected_digest", &self.expected_digest)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl FirmwareVerifier {
    /// Starts verifying a file of `expected_size` bytes signed with `method`.
    pub fn new(expected_size: u64, method: SignMethod, expected_digest: Digest) -> Self {
        Self {
            expected_size,
            method,
            expected_digest,
            received: 0,
            hasher: Hasher::new(method),
        }
    }

    /// Feeds the next chunk (any size, including empty). Fails with
    /// [`VerifyError::SizeExceeded`] as soon as more bytes than expected have arrived; the bytes
    /// are still counted and hashed so that [`finish`](Self::finish) reports what came.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), VerifyError> {
        self.hasher.update(chunk);
        self.received = self.received.saturating_add(chunk.len() as u64);
        if self.received > self.expected_size {
            Err(VerifyError::SizeExceeded {
                expected: self.expected_size,
                received: self.received,
            })
        } else {
            Ok(())
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The expected size in bytes.
    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    /// The sign method.
    pub fn method(&self) -> SignMethod {
        self.method
    }

    /// Ends the stream: checks size, then digest.
    pub fn finish(self) -> Result<Verified, VerifyError> {
        let actual = self.hasher.finish_hex();
        judge_firmware(
            self.expected_size,
            self.method,
            &self.expected_digest,
            self.received,
            actual,
        )
    }
}

/// Judges a file that was hashed elsewhere (a platform's native hasher) by the same rules as
/// [`FirmwareVerifier::finish`]: size first, then the digest (`actual`, lowercase hex).
///
/// ```
/// use otalab_protocol::{Digest, SignMethod, VerifyError, judge_firmware};
///
/// let method = SignMethod::Md5;
/// let expected = Digest::parse(method, "5d41402abc4b2a76b9719d911017c592").unwrap();
/// let ok = judge_firmware(5, method, &expected, 5, "5d41402abc4b2a76b9719d911017c592".into());
/// assert_eq!(ok.unwrap().size, 5);
/// let short = judge_firmware(5, method, &expected, 4, "00".into());
/// assert!(matches!(short, Err(VerifyError::SizeMismatch { actual: 4, .. })));
/// ```
pub fn judge_firmware(
    expected_size: u64,
    method: SignMethod,
    expected_digest: &Digest,
    received: u64,
    actual: String,
) -> Result<Verified, VerifyError> {
    if received != expected_size {
        return Err(VerifyError::SizeMismatch {
            expected: expected_size,
            actual: received,
            actual_digest: actual,
        });
    }
    if actual != expected_digest.as_str() {
        return Err(VerifyError::DigestMismatch {
            method: method.name(),
            expected: expected_digest.as_str().to_owned(),
            actual,
        });
    }
    Ok(Verified {
        size: received,
        digest: actual,
    })
}

/// Hex digest of a whole buffer (for tools that already hold the file, e.g. the platform panel).
pub fn digest_hex(method: SignMethod, bytes: &[u8]) -> String {
    let mut hasher = Hasher::new(method);
    hasher.update(bytes);
    hasher.finish_hex()
}

/// Size, MD5 and SHA-256 of a file fed in pieces of any size, in constant memory: what the
/// dashboard computes for a dropped firmware file before it announces it.
///
/// ```
/// use otalab_protocol::{FileDigests, SignMethod, digest_hex};
///
/// let mut digests = FileDigests::new();
/// for piece in [&b"hello "[..], &b"world"[..]] {
///     digests.update(piece);
/// }
/// let (size, md5, sha256) = digests.finish();
/// assert_eq!(size, 11);
/// assert_eq!(md5, digest_hex(SignMethod::Md5, b"hello world"));
/// assert_eq!(sha256, digest_hex(SignMethod::Sha256, b"hello world"));
/// ```
#[derive(Clone)]
pub struct FileDigests {
    size: u64,
    md5: Hasher,
    sha256: Hasher,
}

impl std::fmt::Debug for FileDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDigests")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Default for FileDigests {
    fn default() -> Self {
        Self::new()
    }
}

impl FileDigests {
    /// Nothing hashed yet.
    pub fn new() -> Self {
        Self {
            size: 0,
            md5: Hasher::new(SignMethod::Md5),
            sha256: Hasher::new(SignMethod::Sha256),
        }
    }

    /// Hashes the next piece.
    pub fn update(&mut self, piece: &[u8]) {
        self.size = self.size.saturating_add(piece.len() as u64);
        self.md5.update(piece);
        self.sha256.update(piece);
    }

    /// Bytes hashed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `(size, md5 hex, sha256 hex)`, lowercase.
    pub fn finish(self) -> (u64, String, String) {
        (self.size, self.md5.finish_hex(), self.sha256.finish_hex())
    }
}
