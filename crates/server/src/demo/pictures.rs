//! Pictures for the demo, drawn by code (nothing downloaded): a building front before, during
//! or after renewal, with the estate's code, the building and the date written on it in an 8×8
//! bitmap font (codes and digits only: the font has no Chinese, and words would be English).

use flate2::write::ZlibEncoder;
use flate2::{Compression, Crc};
use std::io::Write;

/// What the picture shows.
#[derive(Debug, Clone, Copy)]
pub enum Mood {
    /// Stained walls and cracks.
    Before,
    /// Scaffolding over the front.
    During,
    /// A clean front with green in front.
    After,
}

const W: usize = 320;
const H: usize = 200;

/// A small PNG of a building front with `place` (the estate's code), `caption` (a building
/// number such as "3#") and `day` written on it; `seed` varies the windows and cracks.
pub fn photo(place: &str, caption: &str, day: &str, mood: Mood, seed: u64) -> Vec<u8> {
    let mut px = vec![[0u8; 3]; W * H];
    let (wall, sky) = match mood {
        Mood::Before => ([150, 140, 128], [176, 186, 196]),
        Mood::During => ([170, 160, 150], [160, 196, 228]),
        Mood::After => ([236, 222, 196], [120, 178, 236]),
    };
    let mut r = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut rand = move || {
        r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (r >> 33) as usize
    };
    for y in 0..H {
        for x in 0..W {
            let inside = (40..280).contains(&x) && (30..170).contains(&y);
            px[y * W + x] = if inside {
                wall
            } else if y >= 170 {
                [90, 96, 90]
            } else {
                sky
            };
        }
    }
    // Windows, four floors of six.
    for floor in 0..4 {
        for col in 0..6 {
            let (x0, y0) = (52 + col * 38, 40 + floor * 32);
            let glass = if rand() % 5 == 0 { [70, 80, 90] } else { [96, 130, 160] };
            fill(&mut px, x0, y0, 24, 18, glass);
        }
    }
    match mood {
        Mood::Before => {
            for _ in 0..6 {
                let (mut x, mut y) = (40 + rand() % 240, 30 + rand() % 60);
                for _ in 0..50 {
                    if x < W && y < H {
                        px[y * W + x] = [60, 56, 50];
                    }
                    x = (x + rand() % 3).saturating_sub(1);
                    y += 1;
                }
            }
        }
        Mood::During => {
            for x in (36..290).step_by(18) {
                fill(&mut px, x, 24, 2, 146, [200, 120, 40]);
            }
            for y in (30..170).step_by(28) {
                fill(&mut px, 36, y, 254, 2, [200, 120, 40]);
            }
        }
        Mood::After => {
            for x in (10..W).step_by(34) {
                fill(&mut px, x, 160, 22, 14, [70, 150, 80]);
            }
        }
    }
    fill(&mut px, 0, H - 22, W, 22, [30, 30, 30]);
    text(&mut px, 4, H - 19, &format!("{place} {caption}"), [255, 255, 255]);
    text(&mut px, 4, H - 10, day, [255, 220, 120]);
    encode(&px)
}

fn fill(px: &mut [[u8; 3]], x0: usize, y0: usize, w: usize, h: usize, c: [u8; 3]) {
    for y in y0..(y0 + h).min(H) {
        for x in x0..(x0 + w).min(W) {
            px[y * W + x] = c;
        }
    }
}

/// Draws ASCII text in the 8×8 font (other characters are left out).
fn text(px: &mut [[u8; 3]], x0: usize, y0: usize, s: &str, c: [u8; 3]) {
    let mut x = x0;
    for ch in s.chars().filter(char::is_ascii) {
        if let Some(glyph) = font8x8::legacy::BASIC_LEGACY.get(ch as usize) {
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 && x + col < W && y0 + row < H {
                        px[(y0 + row) * W + x + col] = c;
                    }
                }
            }
        }
        x += 8;
    }
}

/// The pixels as a PNG file (8-bit RGB, no filter).
fn encode(px: &[[u8; 3]]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(H * (W * 3 + 1));
    for row in px.chunks(W) {
        raw.push(0);
        for p in row {
            raw.extend_from_slice(p);
        }
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(&raw);
    let data = z.finish().unwrap_or_default();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(W as u32).to_be_bytes());
    ihdr.extend_from_slice(&(H as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &data);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_is_a_png_the_archive_accepts() {
        let png = photo("HA0001", "1#", "2024-05-12", Mood::Before, 3);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(huanxin_domain::photos::strip_metadata(&png).is_some(), "the PNG's chunks parse");
        assert_ne!(png, photo("HA0001", "1#", "2024-05-12", Mood::After, 3));
    }
}
