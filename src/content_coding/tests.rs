//! Tests of the content-coding decoder: each coding, stacks, both deflate framings, the
//! zstd window cap, bombs, unknown codings — streamed (responses) and buffered (requests).

use std::io::Write;

use super::*;
use crate::content_coding::encode::{br, gzip, raw_deflate, zlib};

const TEXT: &[u8] = b"{\"labels\":[\"bug\"],\"body\":\"hello hello hello\"}";

fn zstd_(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A zstd frame whose window is 2^`log` bytes.
fn zstd_window(data: &[u8], log: u32) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    e.set_parameter(zstd::stream::raw::CParameter::WindowLog(log))
        .unwrap();
    e.include_contentsize(false).unwrap();
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Decodes the way a response streams: encoded bytes in `piece`-sized chunks, decoded
/// output taken in steps of at most `want` (each step checked against the bound).
fn stream(header: &str, encoded: &[u8], piece: usize) -> Result<Vec<u8>, CodingError> {
    let mut d = Decoder::new(&parse(Some(header))?)?;
    let mut out = Vec::new();
    for chunk in encoded.chunks(piece) {
        d.feed(chunk);
        while d.has_pending() {
            let step = d.decode(64 * 1024)?;
            assert!(step.len() <= 64 * 1024, "{header}: step of {}", step.len());
            out.extend(step);
        }
    }
    out.extend(d.finish()?);
    Ok(out)
}

/// Every coding, both decoders: streamed and buffered.
fn both(header: &str, encoded: &[u8]) -> [Result<Vec<u8>, CodingError>; 2] {
    [
        stream(header, encoded, 777),
        decode_all(encoded, Some(header), 1024 * 1024).map(Cow::into_owned),
    ]
}

#[test]
fn every_coding_round_trips_streamed_and_buffered() {
    let large: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    for data in [TEXT, &large[..]] {
        let cases = [
            ("gzip", gzip(data)),
            ("x-gzip", gzip(data)),
            ("GZIP", gzip(data)),
            ("deflate", zlib(data)),
            ("br", br(data)),
            ("zstd", zstd_(data)),
            ("identity", data.to_vec()),
        ];
        for (header, encoded) in cases {
            for result in both(header, &encoded) {
                assert_eq!(result.unwrap(), data, "{header}");
            }
        }
    }
}

#[test]
fn deflate_is_read_zlib_wrapped_or_raw_on_both_sides() {
    for encoded in [zlib(TEXT), raw_deflate(TEXT)] {
        for result in both("deflate", &encoded) {
            assert_eq!(result.unwrap(), TEXT);
        }
        assert_eq!(
            stream("deflate", &encoded, 1).unwrap(),
            TEXT,
            "byte by byte"
        );
    }
    assert!(stage::is_zlib_header(0x78, 0x9c));
    assert!(!stage::is_zlib_header(0x78, 0x9d));
}

#[test]
fn stacked_codings_are_undone_in_reverse_up_to_the_max() {
    let encoded = br(&gzip(TEXT));
    for result in both("gzip, br", &encoded) {
        assert_eq!(result.unwrap(), TEXT);
    }
    // Separate header lines are one list.
    let mut headers = HeaderMap::new();
    headers.append(CONTENT_ENCODING, "gzip".parse().unwrap());
    headers.append(CONTENT_ENCODING, "identity, br".parse().unwrap());
    let header = header_list(&headers).unwrap();
    assert_eq!(header, "gzip, identity, br");
    assert_eq!(
        parse(Some(&header)).unwrap(),
        [Coding::Brotli, Coding::Gzip]
    );
    let three = gzip(&encoded);
    for result in both("gzip, br, gzip", &three) {
        assert_eq!(
            result,
            Err(CodingError::TooManyCodings("gzip, br, gzip".into()))
        );
    }
}

#[test]
fn identity_and_empty_entries_are_skipped() {
    assert_eq!(parse(None).unwrap(), []);
    assert_eq!(parse(Some("identity")).unwrap(), []);
    assert_eq!(parse(Some(" , identity,")).unwrap(), []);
    assert!(matches!(
        decode_all(TEXT, Some("identity"), 10),
        Ok(Cow::Borrowed(_))
    ));
}

#[test]
fn unknown_codings_are_errors_on_both_sides() {
    for header in ["compress", "gzip, compress", "x-custom, gzip"] {
        assert!(matches!(
            parse(Some(header)),
            Err(CodingError::Unsupported(_))
        ));
        assert!(matches!(
            decode_all(b"xx", Some(header), 1000),
            Err(CodingError::Unsupported(_))
        ));
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_ENCODING,
        http::HeaderValue::from_bytes(b"gz\xffip").unwrap(),
    );
    let header = header_list(&headers).unwrap();
    assert!(
        parse(Some(&header)).is_err(),
        "non-UTF-8 is not read as absent"
    );
}

#[test]
fn a_zstd_window_over_the_cap_is_refused_on_both_sides() {
    let data: Vec<u8> = (0..(1u32 << 22)).map(|i| (i % 251) as u8).collect();
    let ok = zstd_window(&data, ZSTD_WINDOW_LOG_MAX);
    assert_eq!(stream("zstd", &ok, 4096).unwrap(), data);
    let big = zstd_window(&data, ZSTD_WINDOW_LOG_MAX + 1);
    assert!(matches!(
        stream("zstd", &big, 4096),
        Err(CodingError::Corrupt {
            coding: Coding::Zstd,
            ..
        })
    ));
    assert!(matches!(
        decode_all(&big, Some("zstd"), MAX_DECODED_SIZE),
        Err(CodingError::Corrupt {
            coding: Coding::Zstd,
            ..
        })
    ));
}

#[test]
fn a_bomb_is_capped_when_buffered_and_bounded_per_step_when_streamed() {
    let zeros = vec![0u8; 16 * 1024 * 1024];
    let cases = [
        ("gzip", gzip(&zeros)),
        ("deflate", zlib(&zeros)),
        ("deflate", raw_deflate(&zeros)),
        ("br", br(&zeros)),
        ("zstd", zstd_(&zeros)),
        ("gzip, gzip", gzip(&gzip(&zeros))),
    ];
    for (header, encoded) in cases {
        assert!(encoded.len() < 64 * 1024, "{header} compresses well");
        assert_eq!(
            decode_all(&encoded, Some(header), 1024 * 1024),
            Err(CodingError::TooLarge { cap: 1024 * 1024 }),
            "{header}"
        );
        // The whole bomb in one chunk: still at most 64 KiB a step (`stream` checks).
        assert_eq!(
            stream(header, &encoded, encoded.len()).unwrap().len(),
            zeros.len()
        );
    }
}

#[test]
fn corrupt_truncated_and_trailing_bytes_are_errors() {
    let corrupt = |header: &str, bytes: &[u8]| {
        for result in both(header, bytes) {
            assert!(
                matches!(result, Err(CodingError::Corrupt { .. })),
                "{header}: {result:?}"
            );
        }
    };
    corrupt("gzip", b"not gzip");
    corrupt("zstd", b"xx");
    corrupt("br", b"\xff\xff\xff\xff");
    let full = gzip(TEXT);
    corrupt("gzip", &full[..full.len() - 1]);
    corrupt("br", &br(TEXT)[..4]);
    corrupt("zstd", &zstd_(TEXT)[..10]);
    let mut bad_crc = full.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    corrupt("gzip", &bad_crc);
    corrupt("deflate", &[zlib(TEXT), b"x".to_vec()].concat());
    // Two gzip members are one body.
    let two = [gzip(b"ab"), gzip(b"cd")].concat();
    for result in both("gzip", &two) {
        assert_eq!(result.unwrap(), b"abcd");
    }
}

#[test]
fn an_empty_body_is_valid_in_every_coding() {
    for header in ["gzip", "deflate", "br", "zstd", "gzip, br"] {
        for result in both(header, b"") {
            assert_eq!(result.unwrap(), b"", "{header}");
        }
    }
}

#[test]
fn a_gzip_header_with_every_field_is_read() {
    let mut e = flate2::GzBuilder::new()
        .filename("a.json")
        .comment("c")
        .extra(vec![1, 2, 3])
        .write(Vec::new(), flate2::Compression::default());
    e.write_all(TEXT).unwrap();
    let encoded = e.finish().unwrap();
    assert_eq!(stream("gzip", &encoded, 1).unwrap(), TEXT, "byte by byte");
    assert_eq!(&*decode_all(&encoded, Some("gzip"), 1000).unwrap(), TEXT);
}

#[test]
fn caps() {
    assert_eq!(decoded_cap(1024), 8 * 1024);
    assert_eq!(decoded_cap(MAX_DECODED_SIZE), MAX_DECODED_SIZE);
    assert_eq!(
        decoded_cap(crate::policy::body::MAX_MAX_SIZE),
        MAX_DECODED_SIZE
    );
    assert_eq!(decoded_cap(usize::MAX), usize::MAX);
}
