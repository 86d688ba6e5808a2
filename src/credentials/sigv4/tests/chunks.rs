//! Signed `aws-chunked` uploads: AWS's documented chunk signatures, and chunks checked with
//! the placeholder chain then signed with the real one.

use super::*;

fn chain(secret: &[u8], seed: &str) -> chunked::ChunkChain {
    let scope = Scope {
        date: "20130524".into(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    chunked::ChunkChain {
        signing_key: canonical::signing_key(secret, &scope),
        timestamp: "20130524T000000Z".into(),
        scope,
        previous: seed.into(),
    }
}

/// The S3 documentation's `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` example: 64 KiB and 1 KiB of
/// `a`, then the empty chunk, after the seed signature.
#[test]
fn aws_documented_chunk_signatures() {
    let mut c = chain(
        b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    );
    assert_eq!(
        c.sign(&[b'a'; 65536]),
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    );
    assert_eq!(
        c.sign(&[b'a'; 1024]),
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    );
    assert_eq!(
        c.sign(b""),
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    );
}

/// An aws-chunked body signed by `c`.
fn chunked(c: &mut chunked::ChunkChain, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for data in chunks.iter().copied().chain([&b""[..]]) {
        let sig = c.sign(data);
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn chunks_are_checked_with_the_placeholder_chain_and_signed_with_the_real_one() {
    let seed = "1111111111111111111111111111111111111111111111111111111111111111";
    let real_seed = "2222222222222222222222222222222222222222222222222222222222222222";
    let body = chunked(&mut chain(b"placeholder", seed), &[b"hello ", b"world"]);
    let out = chunked::resign_chunks(
        &body,
        &mut chain(b"placeholder", seed),
        &mut chain(b"real", real_seed),
    )
    .unwrap();
    assert_eq!(out.len(), body.len(), "the length is kept");
    assert_eq!(
        out,
        chunked(&mut chain(b"real", real_seed), &[b"hello ", b"world"])
    );

    let mut tampered = body.clone();
    let at = tampered.windows(5).position(|w| w == b"world").unwrap();
    tampered[at] = b'W';
    let result = chunked::resign_chunks(
        &tampered,
        &mut chain(b"placeholder", seed),
        &mut chain(b"real", real_seed),
    );
    assert_eq!(result, Err(SigV4Error::BadSignature));
    let truncated = &body[..body.len() - 10];
    let result = chunked::resign_chunks(
        truncated,
        &mut chain(b"placeholder", seed),
        &mut chain(b"real", real_seed),
    );
    assert!(
        matches!(result, Err(SigV4Error::Malformed(_))),
        "{result:?}"
    );
}
