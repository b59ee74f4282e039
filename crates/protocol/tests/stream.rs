//! A 256 MiB firmware stream verifies in 64 KiB chunks with constant memory.
//!
//! The stream is splitmix64 over the word index (little-endian words). Its digests were computed
//! independently by a C program writing the same words to stdout, piped to coreutils:
//! `./gen | sha256sum` and `./gen | md5sum`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A counting global allocator is the one place unsafe code is needed (tests only).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use otalab_protocol::{Digest, FirmwareVerifier, SignMethod, VerifyError};

const TOTAL: u64 = 256 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const SHA256: &str = "856e1016e2a7fae316c2ae34e8cf1bf1616587f5a93855cd24a9620590138d5f";
const MD5: &str = "322bd045fff4caec6d86d4a22bdfded8";

/// Counts live heap bytes and the peak, to prove the verifier does not buffer.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn splitmix(index: u64) -> u64 {
    let mut z = (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Streams the generator through `verifier` with one reused buffer; returns the peak heap growth.
fn stream(mut verifier: FirmwareVerifier, extra: usize) -> (Result<u64, VerifyError>, usize) {
    let mut buffer = vec![0u8; CHUNK];
    let baseline = LIVE.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    let mut word = 0u64;
    let mut sent = 0u64;
    while sent < TOTAL {
        for slot in buffer.chunks_exact_mut(8) {
            slot.copy_from_slice(&splitmix(word).to_le_bytes());
            word += 1;
        }
        verifier.update(&buffer).unwrap();
        sent += CHUNK as u64;
    }
    let tail = vec![0u8; extra];
    let result = verifier
        .update(&tail)
        .and_then(|()| verifier.finish().map(|v| v.size));
    let growth = PEAK.load(Ordering::SeqCst).saturating_sub(baseline);
    (result, growth)
}

#[test]
fn streams_of_256_mib_in_64_kib_chunks_verify_in_constant_memory() {
    for (method, digest) in [(SignMethod::Sha256, SHA256), (SignMethod::Md5, MD5)] {
        let verifier = FirmwareVerifier::new(TOTAL, method, Digest::parse(method, digest).unwrap());
        let (result, growth) = stream(verifier, 0);
        assert_eq!(result.unwrap(), TOTAL, "{method}");
        // Only the final hex string is allocated while streaming 256 MiB.
        assert!(
            growth < 4096,
            "{method}: heap grew by {growth} bytes while streaming"
        );
    }
    // One byte too many after 256 MiB is caught. (One test function: the allocation counters
    // are global, so streams must not run in parallel threads.)
    let verifier = FirmwareVerifier::new(
        TOTAL,
        SignMethod::Md5,
        Digest::parse(SignMethod::Md5, MD5).unwrap(),
    );
    let (result, _) = stream(verifier, 1);
    assert_eq!(
        result.unwrap_err(),
        VerifyError::SizeExceeded {
            expected: TOTAL,
            received: TOTAL + 1
        }
    );
}
