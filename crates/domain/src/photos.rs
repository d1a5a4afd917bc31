//! Photos shown to the public lose what a camera wrote about where and when (EXIF with GPS, XMP,
//! comments, text chunks); the picture itself is kept byte for byte.
//!
//! JPEG: every APP1–APP15 segment and COM before the scan is dropped (APP0 JFIF and the image data
//! stay). PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` chunks are dropped. WebP: the `EXIF` and
//! `XMP ` chunks are dropped and the VP8X flags and RIFF size mended. Anything that does not parse
//! as its kind gives `None`: the photo is then not published rather than published with its GPS.

/// The photo without its metadata, or `None` when it is not a well-formed JPEG, PNG or WebP.
pub fn strip_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        strip_jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        strip_png(bytes)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        strip_webp(bytes)
    } else {
        None
    }
}

fn strip_jpeg(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0xFF, 0xD8];
    let mut i = 2;
    loop {
        // Fill bytes (0xFF) may stand between segments.
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if b.get(i) != Some(&0xFF) {
            return None;
        }
        let marker = *b.get(i + 1)?;
        if marker == 0xD9 {
            out.extend_from_slice(&b[i..i + 2]);
            return Some(out);
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
        if len < 2 || i + 2 + len > b.len() {
            return None;
        }
        let segment = &b[i..i + 2 + len];
        if marker == 0xDA {
            // Start of scan: the image data and everything after it stay as they are.
            out.extend_from_slice(&b[i..]);
            return Some(out);
        }
        let metadata = (0xE1..=0xEF).contains(&marker) || marker == 0xFE;
        if !metadata {
            out.extend_from_slice(segment);
        }
        i += 2 + len;
    }
}

fn strip_png(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = b[..8].to_vec();
    let mut i = 8;
    while i < b.len() {
        let len = usize::try_from(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)).ok()?;
        let end = i.checked_add(12)?.checked_add(len)?;
        if end > b.len() {
            return None;
        }
        let kind = &b[i + 4..i + 8];
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(&b[i..end]);
        }
        if kind == b"IEND" {
            return Some(out);
        }
        i = end;
    }
    None
}

fn strip_webp(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = b[..12].to_vec();
    let mut i = 12;
    while i < b.len() {
        let kind = b.get(i..i + 4)?;
        let len = usize::try_from(u32::from_le_bytes(b.get(i + 4..i + 8)?.try_into().ok()?)).ok()?;
        // Chunks are padded to an even length.
        let end = i.checked_add(8)?.checked_add(len)?.checked_add(len % 2)?.min(b.len());
        if i + 8 + len > b.len() {
            return None;
        }
        if kind != b"EXIF" && kind != b"XMP " {
            let start = out.len();
            out.extend_from_slice(&b[i..end]);
            if kind == b"VP8X" && out.len() > start + 8 {
                // The flags say which metadata chunks follow: none now (EXIF 0x08, XMP 0x04).
                out[start + 8] &= !(0x08 | 0x04);
            }
        }
        i = end;
    }
    let size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    #[test]
    fn jpeg_loses_exif_and_comments_and_keeps_the_picture() {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        jpeg.extend(segment(0xE1, b"Exif\0\0GPSLatitude 24.91"));
        jpeg.extend(segment(0xFE, b"shot at home"));
        jpeg.extend(segment(0xDB, &[0; 65]));
        jpeg.extend(segment(0xDA, &[1, 2, 3]));
        jpeg.extend([0x11, 0x22, 0xFF, 0x00, 0x33, 0xFF, 0xD9]);
        let out = strip_metadata(&jpeg).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("GPS") && !text.contains("shot at home"), "{text}");
        assert!(text.contains("JFIF"));
        assert!(out.ends_with(&[0x11, 0x22, 0xFF, 0x00, 0x33, 0xFF, 0xD9]), "the scan is kept byte for byte");
        assert_eq!(out.len(), jpeg.len() - segment(0xE1, b"Exif\0\0GPSLatitude 24.91").len() - segment(0xFE, b"shot at home").len());
    }

    #[test]
    fn png_and_webp_lose_their_metadata_chunks() {
        let chunk = |kind: &[u8], body: &[u8]| {
            let mut c = (body.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(body);
            c.extend_from_slice(&[0, 0, 0, 0]);
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[0; 13]));
        png.extend(chunk(b"eXIf", b"GPS 24.91"));
        png.extend(chunk(b"tEXt", b"Comment\0home"));
        png.extend(chunk(b"IDAT", &[7; 10]));
        png.extend(chunk(b"IEND", &[]));
        let out = strip_metadata(&png).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("GPS") && !String::from_utf8_lossy(&out).contains("home"));
        assert!(String::from_utf8_lossy(&out).contains("IDAT"));

        let riff = |kind: &[u8], body: &[u8]| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(body.len() as u32).to_le_bytes());
            c.extend_from_slice(body);
            if body.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let mut body = b"WEBP".to_vec();
        body.extend(riff(b"VP8X", &[0x0C, 0, 0, 0, 1, 0, 0, 1, 0, 0]));
        body.extend(riff(b"VP8 ", &[9; 11]));
        body.extend(riff(b"EXIF", b"GPS 24.91"));
        body.extend(riff(b"XMP ", b"<x:gps/>"));
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
        webp.extend(body);
        let out = strip_metadata(&webp).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("GPS") && !String::from_utf8_lossy(&out).contains("gps"));
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize, out.len() - 8, "RIFF size mended");
        assert_eq!(out[20] & 0x0C, 0, "VP8X no longer announces EXIF or XMP");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(head in prop::sample::select(vec![vec![0xFFu8, 0xD8], b"\x89PNG\r\n\x1a\n".to_vec(), b"RIFF\0\0\0\0WEBP".to_vec()]),
                                     rest in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut b = head;
            b.extend(rest);
            let _ = strip_metadata(&b);
        }
    }
}
