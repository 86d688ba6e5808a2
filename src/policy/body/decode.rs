//! Content-Encoding decoding with a hard cap on the decoded size.

use std::borrow::Cow;
use std::io::Read;

use super::BodyError;

/// zstd window limit (2^23 = 8 MiB): bounds the decoder's memory whatever the frame claims.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Decodes `bytes` per `content_encoding` (a comma-separated list, applied in reverse),
/// failing once the output would exceed `cap` bytes.
pub fn decode<'b>(
    bytes: &'b [u8],
    content_encoding: Option<&str>,
    cap: usize,
) -> Result<Cow<'b, [u8]>, BodyError> {
    let mut current: Cow<'b, [u8]> = Cow::Borrowed(bytes);
    let Some(header) = content_encoding else {
        return Ok(current);
    };
    for coding in header.split(',').rev() {
        let coding = coding.trim().to_ascii_lowercase();
        let decoded = match coding.as_str() {
            "" | "identity" => continue,
            "gzip" | "x-gzip" => {
                read_capped(flate2::read::MultiGzDecoder::new(&*current), "gzip", cap)?
            }
            "deflate" => decode_deflate(&current, cap)?,
            "br" => read_capped(brotli::Decompressor::new(&*current, 4096), "br", cap)?,
            "zstd" => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(&*current)
                    .map_err(|e| corrupt("zstd", &e))?;
                decoder
                    .window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| corrupt("zstd", &e))?;
                read_capped(decoder, "zstd", cap)?
            }
            _ => return Err(BodyError::UnsupportedEncoding(coding)),
        };
        current = Cow::Owned(decoded);
    }
    Ok(current)
}

/// HTTP `deflate` is zlib-wrapped; some clients send raw deflate, so try both.
fn decode_deflate(bytes: &[u8], cap: usize) -> Result<Vec<u8>, BodyError> {
    match read_capped(flate2::read::ZlibDecoder::new(bytes), "deflate", cap) {
        Err(BodyError::Corrupt { .. }) => {
            read_capped(flate2::read::DeflateDecoder::new(bytes), "deflate", cap)
        }
        other => other,
    }
}

/// Reads at most `cap + 1` bytes; more than `cap` is a decompression bomb.
fn read_capped(reader: impl Read, encoding: &str, cap: usize) -> Result<Vec<u8>, BodyError> {
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(encoding, &e))?;
    if out.len() > cap {
        return Err(BodyError::DecodedTooLarge { cap });
    }
    Ok(out)
}

/// A decoder error naming the encoding.
fn corrupt(encoding: &str, error: &std::io::Error) -> BodyError {
    BodyError::Corrupt {
        encoding: encoding.to_owned(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"{\"labels\":[\"bug\"],\"body\":\"hello hello hello\"}";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn br(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    fn zstd_(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    #[test]
    fn identity_is_borrowed() {
        assert!(matches!(decode(TEXT, None, 10), Ok(Cow::Borrowed(_))));
        assert_eq!(&*decode(TEXT, Some("identity"), 1000).unwrap(), TEXT);
    }

    #[test]
    fn each_encoding_decodes() {
        let cases = [
            ("gzip", gzip(TEXT)),
            ("x-gzip", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("deflate", raw_deflate(TEXT)),
            ("br", br(TEXT)),
            ("zstd", zstd_(TEXT)),
            ("GZIP", gzip(TEXT)),
        ];
        for (encoding, bytes) in cases {
            assert_eq!(
                &*decode(&bytes, Some(encoding), 1000).unwrap(),
                TEXT,
                "{encoding}"
            );
        }
    }

    #[test]
    fn stacked_encodings_are_undone_in_reverse() {
        let bytes = br(&gzip(TEXT));
        assert_eq!(&*decode(&bytes, Some("gzip, br"), 1000).unwrap(), TEXT);
    }

    #[test]
    fn bombs_are_refused_for_every_encoding() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        for (encoding, bytes) in [
            ("gzip", gzip(&zeros)),
            ("deflate", zlib(&zeros)),
            ("br", br(&zeros)),
            ("zstd", zstd_(&zeros)),
        ] {
            assert!(bytes.len() < 64 * 1024, "{encoding} compresses well");
            assert_eq!(
                decode(&bytes, Some(encoding), 1024 * 1024),
                Err(BodyError::DecodedTooLarge { cap: 1024 * 1024 }),
                "{encoding}"
            );
        }
    }

    #[test]
    fn corrupt_and_unknown_encodings_are_errors() {
        assert!(matches!(
            decode(b"not gzip", Some("gzip"), 1000),
            Err(BodyError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(b"xx", Some("zstd"), 1000),
            Err(BodyError::Corrupt { .. })
        ));
        assert_eq!(
            decode(b"xx", Some("compress"), 1000),
            Err(BodyError::UnsupportedEncoding("compress".into()))
        );
    }
}
