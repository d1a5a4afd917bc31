//! PDF documents for posting and filing (the scheme of an estate): A4 pages of titled tables in a
//! Chinese font taken from the system (only the glyphs used are embedded, so files stay small).

use crate::error::ApiError;
use huanxin_domain::reason;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::paint::Stroke;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use std::sync::{Arc, OnceLock};

/// Chinese fonts looked for when none is configured: (path, index in the collection).
/// Debian's `fonts-noto-cjk` holds Simplified Chinese at index 2 of its collections.
const SYSTEM_FONTS: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
];

/// The font, read once per process: `configured` (a path, optionally `path#index`), else the
/// first system font found. An error says what to install.
pub fn font(configured: &str) -> Result<Font, ApiError> {
    static FONT: OnceLock<Result<Font, huanxin_domain::Reason>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<(String, u32)> = if configured.trim().is_empty() {
            SYSTEM_FONTS.iter().map(|(p, i)| (p.to_string(), *i)).collect()
        } else {
            let (path, index) = configured.trim().rsplit_once('#').map_or((configured.trim(), 0), |(p, i)| (p, i.parse().unwrap_or(0)));
            vec![(path.to_string(), index)]
        };
        for (path, index) in &candidates {
            if let Ok(data) = std::fs::read(path) {
                return Font::new(Arc::new(data).into(), *index).ok_or_else(|| reason!("pdf.font_unreadable", path = path));
            }
        }
        Err(reason!("pdf.no_font"))
    })
    .clone()
    .map_err(ApiError::Unavailable)
}

/// A4 in points.
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 40.0;
const ROW_H: f32 = 16.0;
const SIZE: f32 = 9.0;

/// One column: its header and share of the page width.
pub struct Column<'a> {
    pub header: &'a str,
    pub width: f32,
    /// Numbers are right-aligned.
    pub right: bool,
}

/// Approximate width of `text` at `size`: CJK glyphs are square, others about half as wide.
fn text_width(text: &str, size: f32) -> f32 {
    text.chars().map(|c| if c.is_ascii() { 0.55 } else { 1.0 }).sum::<f32>() * size
}

/// `text` cut to fit `width`, with an ellipsis when cut.
fn fit(text: &str, width: f32, size: f32) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&out, size) + text_width(&format!("{c}…"), size) > width {
            break;
        }
        out.push(c);
    }
    out + "…"
}

/// A document of title lines, then a table with a header row repeated on every page, page numbers
/// at the foot ("第 n 页，共 m 页").
pub fn table_pdf(font: Font, title: &str, subtitle: &[String], columns: &[Column<'_>], rows: &[Vec<String>]) -> Result<Vec<u8>, ApiError> {
    let usable = PAGE_W - 2.0 * MARGIN;
    let total: f32 = columns.iter().map(|c| c.width).sum::<f32>().max(1.0);
    let widths: Vec<f32> = columns.iter().map(|c| c.width / total * usable).collect();
    let first_page_rows = ((PAGE_H - 2.0 * MARGIN - 40.0 - subtitle.len() as f32 * 14.0 - ROW_H) / ROW_H).floor().max(1.0) as usize;
    let other_page_rows = ((PAGE_H - 2.0 * MARGIN - ROW_H - 20.0) / ROW_H).floor().max(1.0) as usize;
    let mut pages: Vec<&[Vec<String>]> = Vec::new();
    let (head, mut rest) = rows.split_at(rows.len().min(first_page_rows));
    pages.push(head);
    while !rest.is_empty() {
        let (p, r) = rest.split_at(rest.len().min(other_page_rows));
        pages.push(p);
        rest = r;
    }
    let page_count = pages.len();
    let mut doc = Document::new();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| ApiError::Internal("page size".into()))?;
    let line = |surface: &mut krilla::surface::Surface<'_>, x1: f32, y1: f32, x2: f32, y2: f32| {
        let mut pb = PathBuilder::new();
        pb.move_to(x1, y1);
        pb.line_to(x2, y2);
        if let Some(path) = pb.finish() {
            surface.draw_path(&path);
        }
    };
    for (n, page_rows) in pages.iter().enumerate() {
        let mut page = doc.start_page_with(settings.clone());
        let mut surface = page.surface();
        surface.set_fill(Some(Default::default()));
        surface.set_stroke(Some(Stroke { width: 0.4, ..Default::default() }));
        let mut y = MARGIN;
        if n == 0 {
            y += 18.0;
            surface.draw_text(Point::from_xy(MARGIN, y), font.clone(), 16.0, title, false, TextDirection::Auto);
            y += 8.0;
            for s in subtitle {
                y += 14.0;
                surface.draw_text(Point::from_xy(MARGIN, y), font.clone(), 9.5, &fit(s, usable, 9.5), false, TextDirection::Auto);
            }
            y += 14.0;
        }
        // Header row, then the rows, each underlined.
        let draw_row = |surface: &mut krilla::surface::Surface<'_>, y: f32, cells: &[String]| {
            let mut x = MARGIN;
            for ((cell, w), col) in cells.iter().zip(&widths).zip(columns) {
                let text = fit(cell, w - 4.0, SIZE);
                let tx = if col.right { x + w - 2.0 - text_width(&text, SIZE) } else { x + 2.0 };
                surface.draw_text(Point::from_xy(tx, y + ROW_H - 4.5), font.clone(), SIZE, &text, false, TextDirection::Auto);
                x += w;
            }
            line(surface, MARGIN, y + ROW_H, MARGIN + usable, y + ROW_H);
        };
        let headers: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
        line(&mut surface, MARGIN, y, MARGIN + usable, y);
        draw_row(&mut surface, y, &headers);
        y += ROW_H;
        for r in page_rows.iter() {
            draw_row(&mut surface, y, r);
            y += ROW_H;
        }
        let foot = format!("第 {} 页，共 {page_count} 页", n + 1);
        surface.draw_text(
            Point::from_xy(PAGE_W - MARGIN - text_width(&foot, 8.0), PAGE_H - MARGIN / 2.0),
            font.clone(),
            8.0,
            &foot,
            false,
            TextDirection::Auto,
        );
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| ApiError::Internal(format!("PDF: {e:?}")))
}

/// One slip of an invitation sheet: where it goes, the code, and the link its QR code opens.
pub struct Slip {
    pub heading: String,
    /// The building and stairwell.
    pub address: String,
    /// The dwelling's number, printed large: what tells one slip from the next.
    pub dwelling: String,
    pub code: String,
    pub link: String,
}

/// "1号楼 2单元" from a building number and a stairwell: 栋 is added only to a bare number (a
/// building named 1号楼 is not printed as 1号楼栋).
pub fn slip_place(building: &str, stairwell: i64) -> String {
    let b = building.trim();
    let named = b.ends_with(['楼', '栋', '幢', '座', '号']);
    format!("{b}{} {stairwell}单元", if named { "" } else { "栋" })
}

/// Splits a text into at most `lines` lines that each fit `width` at `size`, the last cut with "…".
fn wrap(text: &str, width: f32, size: f32, lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while !rest.is_empty() && out.len() + 1 < lines {
        let mut n = rest.len();
        while n > 1 && text_width(&rest[..n].iter().collect::<String>(), size) > width {
            n -= 1;
        }
        out.push(rest[..n].iter().collect());
        rest.drain(..n);
    }
    if !rest.is_empty() {
        out.push(fit(&rest.iter().collect::<String>(), width, size));
    }
    out
}

/// Invitation sheets: ten slips per A4 page (two columns, five rows), each with a QR code of its
/// link, the code in large type to type by hand, and how long it is valid; cut along the lines.
pub fn slips_pdf(font: Font, title: &str, note: &str, slips: &[Slip]) -> Result<Vec<u8>, ApiError> {
    const COLS: usize = 2;
    const ROWS: usize = 5;
    let slip_w = (PAGE_W - 2.0 * MARGIN) / COLS as f32;
    let slip_h = (PAGE_H - 2.0 * MARGIN - 20.0) / ROWS as f32;
    let mut doc = Document::new();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| ApiError::Internal("page size".into()))?;
    let pages: Vec<&[Slip]> = if slips.is_empty() { vec![&[]] } else { slips.chunks(COLS * ROWS).collect() };
    let page_count = pages.len();
    for (n, chunk) in pages.into_iter().enumerate() {
        let mut page = doc.start_page_with(settings.clone());
        let mut surface = page.surface();
        surface.set_fill(Some(Default::default()));
        surface.draw_text(
            Point::from_xy(MARGIN, MARGIN),
            font.clone(),
            10.0,
            &format!("{title}  第 {} 页，共 {page_count} 页", n + 1),
            false,
            TextDirection::Auto,
        );
        for (i, slip) in chunk.iter().enumerate() {
            let x = MARGIN + (i % COLS) as f32 * slip_w;
            let y = MARGIN + 20.0 + (i / COLS) as f32 * slip_h;
            // Cutting lines.
            surface.set_stroke(Some(Stroke { width: 0.3, ..Default::default() }));
            surface.set_fill(None);
            let mut pb = PathBuilder::new();
            if let Some(r) = Rect::from_xywh(x, y, slip_w, slip_h) {
                pb.push_rect(r);
            }
            if let Some(p) = pb.finish() {
                surface.draw_path(&p);
            }
            surface.set_stroke(None);
            surface.set_fill(Some(Default::default()));
            let qr = qrcode::QrCode::new(slip.link.as_bytes()).map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
            let modules = qr.width();
            let side = slip_h - 24.0;
            let cell = side / (modules + 2) as f32;
            let mut pb = PathBuilder::new();
            for (k, c) in qr.to_colors().iter().enumerate() {
                if *c == qrcode::Color::Dark {
                    let (mx, my) = ((k % modules + 1) as f32, (k / modules + 1) as f32);
                    if let Some(r) = Rect::from_xywh(x + 8.0 + mx * cell, y + 12.0 + my * cell, cell, cell) {
                        pb.push_rect(r);
                    }
                }
            }
            if let Some(p) = pb.finish() {
                surface.draw_path(&p);
            }
            let tx = x + 16.0 + side;
            let width = slip_w - side - 24.0;
            surface.draw_text(
                Point::from_xy(tx, y + 28.0),
                font.clone(),
                11.0,
                &fit(&slip.heading, width, 11.0),
                false,
                TextDirection::Auto,
            );
            surface.draw_text(
                Point::from_xy(tx, y + 44.0),
                font.clone(),
                10.0,
                &fit(&slip.address, width, 10.0),
                false,
                TextDirection::Auto,
            );
            surface.draw_text(
                Point::from_xy(tx, y + 62.0),
                font.clone(),
                13.0,
                &fit(&slip.dwelling, width, 13.0),
                false,
                TextDirection::Auto,
            );
            surface.draw_text(Point::from_xy(tx, y + 86.0), font.clone(), 15.0, &slip.code, false, TextDirection::Auto);
            for (k, line) in wrap(note, width, 7.5, 3).iter().enumerate() {
                surface.draw_text(Point::from_xy(tx, y + 100.0 + k as f32 * 9.5), font.clone(), 7.5, line, false, TextDirection::Auto);
            }
        }
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| ApiError::Internal(format!("PDF: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_name_the_place_once_and_the_note_wraps() {
        assert_eq!(slip_place("1号楼", 2), "1号楼 2单元");
        assert_eq!(slip_place("3", 1), "3栋 1单元");
        let lines = wrap("微信扫码或打开链接输入邀请码；仅可使用一次，2027-01-31 前有效", 120.0, 7.5, 2);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, 7.5) <= 120.0), "{lines:?}");
        assert!(lines[1].ends_with("有效") || lines[1].ends_with('…'), "{lines:?}");
    }

    #[test]
    fn long_cells_are_cut_to_their_column() {
        assert_eq!(fit("外墙保温", 100.0, 9.0), "外墙保温");
        let cut = fit("小区道路、停车场地及其附属设施的改造与完善", 60.0, 9.0);
        assert!(cut.ends_with('…') && text_width(&cut, 9.0) <= 60.0, "{cut}");
    }
}
