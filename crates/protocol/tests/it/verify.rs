//! The streaming verifier: chunking does not matter, failures come as early as they are known.

use otalab_protocol::{Digest, FirmwareVerifier, SignMethod, VerifyError, digest_hex};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn same_digest_whatever_the_chunking() {
    let bytes = data(100_003);
    for method in [SignMethod::Md5, SignMethod::Sha256] {
        let whole = digest_hex(method, &bytes);
        for chunk in [1, 2, 63, 64, 65, 4096, 65_536, 100_003, 1_000_000] {
            let digest = Digest::parse(method, &whole).unwrap();
            let mut verifier = FirmwareVerifier::new(bytes.len() as u64, method, digest);
            for piece in bytes.chunks(chunk) {
                verifier.update(piece).unwrap();
                verifier.update(&[]).unwrap();
            }
            let verified = verifier.finish().unwrap();
            assert_eq!(verified.digest, whole, "{method} chunk {chunk}");
            assert_eq!(verified.size, bytes.len() as u64);
        }
    }
}

#[test]
fn too_long_is_reported_at_the_first_extra_byte() {
    let bytes = data(10);
    let digest = Digest::parse(SignMethod::Md5, &digest_hex(SignMethod::Md5, &bytes)).unwrap();
    let mut verifier = FirmwareVerifier::new(9, SignMethod::Md5, digest);
    verifier.update(&bytes[..9]).unwrap();
    let error = verifier.update(&bytes[9..]).unwrap_err();
    assert_eq!(
        error,
        VerifyError::SizeExceeded {
            expected: 9,
            received: 10
        }
    );
    assert_eq!(verifier.received(), 10);
    match verifier.finish().unwrap_err() {
        VerifyError::SizeMismatch {
            expected: 9,
            actual: 10,
            actual_digest,
        } => {
            assert_eq!(actual_digest, digest_hex(SignMethod::Md5, &bytes));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn digest_mismatch_names_both_digests() {
    let bytes = data(1000);
    let mut wrong = bytes.clone();
    wrong[500] ^= 1;
    let expected = digest_hex(SignMethod::Sha256, &bytes);
    let mut verifier = FirmwareVerifier::new(
        1000,
        SignMethod::Sha256,
        Digest::parse(SignMethod::Sha256, &expected).unwrap(),
    );
    verifier.update(&wrong).unwrap();
    match verifier.finish().unwrap_err() {
        VerifyError::DigestMismatch {
            method,
            expected: e,
            actual,
        } => {
            assert_eq!(method, "SHA256");
            assert_eq!(e, expected);
            assert_eq!(actual, digest_hex(SignMethod::Sha256, &wrong));
            assert_ne!(actual, expected);
        }
        other => panic!("unexpected {other:?}"),
    }
}
