//! The receipt as PDF: A4 pages of text in DejaVu Sans (from the `dejavu` crate, so nothing
//! is read at run time), subset to the glyphs used (`subsetter`) and embedded as a Type0 /
//! CIDFontType2 font with Identity-H encoding and a ToUnicode map, so that any reader — and
//! text extraction — gets the Cyrillic text back. Written with lopdf (re-exported by
//! pdf-extract); no dates or ids in the file, so the same receipt gives the same bytes.

use super::{Receipt, format_snils, moscow_time};
use pdf_extract::content::{Content, Operation};
use pdf_extract::{Document, Object, Stream, StringFormat, dictionary};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Why a PDF could not be made (a bug or a character the font lacks).
#[derive(Debug, thiserror::Error)]
#[error("receipt PDF: {0}")]
pub struct PdfError(String);

fn err(e: impl std::fmt::Display) -> PdfError {
    PdfError(e.to_string())
}

/// One line of text at a position.
#[derive(Debug, Clone)]
struct Line {
    x: f32,
    size: f32,
    text: String,
}

const PAGE: (f32, f32) = (595.0, 842.0);
const TOP: f32 = 790.0;
const BOTTOM: f32 = 60.0;
const LEFT: f32 = 56.0;

/// Splits `text` so that no line is wider than `max` characters (on spaces where possible).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > max {
            let head: String = line.chars().take(max).collect();
            line = line.chars().skip(max).collect();
            out.push(head);
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

fn lines_of(r: &Receipt) -> Vec<(Line, f32)> {
    let mut lines: Vec<(Line, f32)> = Vec::new();
    let mut push = |x: f32, size: f32, text: String, gap: f32| {
        for part in wrap(&text, if size > 11.0 { 60 } else { 88 }) {
            lines.push((
                Line {
                    x,
                    size,
                    text: part,
                },
                gap,
            ));
        }
    };
    push(
        LEFT,
        16.0,
        "Электронный акт о подаче заявления".into(),
        24.0,
    );
    push(LEFT, 13.0, format!("№ {}", r.number), 22.0);
    push(LEFT, 10.0, format!("Заявитель: {}", r.applicant), 16.0);
    push(
        LEFT,
        10.0,
        format!("СНИЛС: {}", format_snils(&r.snils)),
        14.0,
    );
    push(
        LEFT,
        10.0,
        format!(
            "Процедура: {} (версия {})",
            r.workflow_label, r.workflow_version
        ),
        14.0,
    );
    push(
        LEFT,
        10.0,
        format!("Действие: {}", r.transition_label),
        14.0,
    );
    push(
        LEFT,
        10.0,
        format!("Поступило: {}", moscow_time(r.received_at)),
        14.0,
    );
    push(
        LEFT,
        10.0,
        format!("Зарегистрировано: {}", moscow_time(r.registered_at)),
        14.0,
    );
    push(LEFT, 10.0, format!("Номер дела: {}", r.case_id), 14.0);
    push(LEFT, 12.0, "Приложенные документы".into(), 24.0);
    for (i, d) in r.documents.iter().enumerate() {
        push(
            LEFT,
            10.0,
            format!("{}. {} — {} ({} байт)", i + 1, d.label, d.file_name, d.size),
            16.0,
        );
        push(LEFT + 14.0, 8.0, format!("SHA-256: {}", d.sha256), 11.0);
    }
    let s = &r.signature;
    push(LEFT, 12.0, "Электронная подпись".into(), 24.0);
    push(
        LEFT,
        10.0,
        format!("Владелец сертификата: {}", s.subject),
        16.0,
    );
    push(
        LEFT,
        10.0,
        format!("Удостоверяющий центр: {}", s.issuer),
        14.0,
    );
    push(
        LEFT,
        10.0,
        format!("Серийный номер сертификата: {}", s.serial),
        14.0,
    );
    push(LEFT, 10.0, format!("Алгоритм: {}", s.algorithm), 14.0);
    push(
        LEFT,
        10.0,
        format!("Время подписания: {}", moscow_time(s.signing_time)),
        14.0,
    );
    push(
        LEFT,
        8.0,
        format!("SHA-256 сертификата: {}", s.certificate_sha256),
        13.0,
    );
    push(
        LEFT,
        8.0,
        format!("SHA-256 подписанных данных: {}", s.payload_sha256),
        11.0,
    );
    push(
        LEFT,
        9.0,
        "Номер акта используется для отслеживания заявления и при обращении в поддержку.".into(),
        24.0,
    );
    lines
}

/// The receipt as a PDF.
pub fn render(r: &Receipt) -> Result<Vec<u8>, PdfError> {
    let ttf: &[u8] = dejavu::sans::regular();
    let face = ttf_parser::Face::parse(ttf, 0).map_err(err)?;
    let upem = f32::from(face.units_per_em());
    let em = |v: f32| (v * 1000.0 / upem).round() as i64;

    let lines = lines_of(r);
    let mut remap = subsetter::GlyphRemapper::new();
    let mut unicode: BTreeMap<u16, char> = BTreeMap::new();
    let mut widths: BTreeMap<u16, i64> = BTreeMap::new();
    let mut shown: Vec<Vec<u8>> = Vec::with_capacity(lines.len());
    for (line, _) in &lines {
        let mut codes = Vec::with_capacity(line.text.len() * 2);
        for ch in line.text.chars() {
            // A character the font lacks is shown as '?' rather than failing the submission.
            let (ch, gid) = match face.glyph_index(ch) {
                Some(g) => (ch, g),
                None => (
                    '?',
                    face.glyph_index('?').ok_or_else(|| err("no '?' glyph"))?,
                ),
            };
            let new = remap.remap(gid.0);
            unicode.entry(new).or_insert(ch);
            widths.insert(new, em(f32::from(face.glyph_hor_advance(gid).unwrap_or(0))));
            codes.extend_from_slice(&new.to_be_bytes());
        }
        shown.push(codes);
    }
    let subset = subsetter::subset(ttf, 0, &remap).map_err(|e| err(format!("{e:?}")))?;

    let mut doc = Document::with_version("1.7");
    let base = "ACCRDO+DejaVuSans";
    let subset_len = i64::try_from(subset.len()).map_err(err)?;
    let font_file = doc.add_object(Stream::new(dictionary! { "Length1" => subset_len }, subset));
    let bb = face.global_bounding_box();
    let descriptor = doc.add_object(dictionary! {
        "Type" => "FontDescriptor", "FontName" => base, "Flags" => 32,
        "FontBBox" => vec![
            em(bb.x_min.into()).into(), em(bb.y_min.into()).into(),
            em(bb.x_max.into()).into(), em(bb.y_max.into()).into(),
        ],
        "ItalicAngle" => 0,
        "Ascent" => em(face.ascender().into()),
        "Descent" => em(face.descender().into()),
        "CapHeight" => em(face.capital_height().unwrap_or(face.ascender()).into()),
        "StemV" => 80,
        "FontFile2" => font_file,
    });
    let w: Vec<Object> = widths
        .iter()
        .flat_map(|(g, w)| {
            [
                Object::Integer(i64::from(*g)),
                Object::Array(vec![Object::Integer(*w)]),
            ]
        })
        .collect();
    let cid_font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "CIDFontType2", "BaseFont" => base,
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "FontDescriptor" => descriptor, "DW" => 1000, "W" => w, "CIDToGIDMap" => "Identity",
    });
    let to_unicode = doc.add_object(Stream::new(dictionary! {}, to_unicode_cmap(&unicode)));
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type0", "BaseFont" => base, "Encoding" => "Identity-H",
        "DescendantFonts" => vec![cid_font.into()], "ToUnicode" => to_unicode,
    });

    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    let mut ops = Vec::new();
    let mut y = TOP;
    let flush = |doc: &mut Document, ops: &mut Vec<Operation>, kids: &mut Vec<Object>| {
        let mut all = vec![Operation::new("BT", vec![])];
        all.append(ops);
        all.push(Operation::new("ET", vec![]));
        let bytes = Content { operations: all }.encode().map_err(err)?;
        let content = doc.add_object(Stream::new(dictionary! {}, bytes));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            "MediaBox" => vec![0.into(), 0.into(), PAGE.0.into(), PAGE.1.into()],
        })));
        Ok::<(), PdfError>(())
    };
    for (i, ((line, gap), codes)) in lines.iter().zip(shown).enumerate() {
        if i > 0 {
            y -= gap;
        }
        if y < BOTTOM {
            flush(&mut doc, &mut ops, &mut kids)?;
            y = TOP;
        }
        ops.push(Operation::new("Tf", vec!["F1".into(), line.size.into()]));
        ops.push(Operation::new(
            "Tm",
            vec![
                1.into(),
                0.into(),
                0.into(),
                1.into(),
                line.x.into(),
                y.into(),
            ],
        ));
        ops.push(Operation::new(
            "Tj",
            vec![Object::String(codes, StringFormat::Hexadecimal)],
        ));
    }
    flush(&mut doc, &mut ops, &mut kids)?;
    let count = i64::try_from(kids.len()).map_err(err)?;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(err)?;
    Ok(out)
}

fn to_unicode_cmap(map: &BTreeMap<u16, char>) -> Vec<u8> {
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let all: Vec<_> = map.iter().collect();
    // At most 100 entries per block (PDF reference).
    for chunk in all.chunks(100) {
        let _ = writeln!(s, "{} beginbfchar", chunk.len());
        for (gid, ch) in chunk {
            let mut buf = [0u16; 2];
            let hex: String = ch
                .encode_utf16(&mut buf)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            let _ = writeln!(s, "<{gid:04X}> <{hex}>");
        }
        s.push_str("endbfchar\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::{ReceiptDocument, ReceiptSignature};
    use chrono::{TimeZone, Utc};
    use sha2::{Digest, Sha256};

    fn receipt() -> Receipt {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        Receipt {
            number: "2026-77-000123".into(),
            case_id: "0190a5c8-0000-7000-8000-000000000001".into(),
            applicant: "Иванова Мария Петровна".into(),
            snils: "11223344595".into(),
            workflow_id: "periodic_accreditation".into(),
            workflow_label: "Периодическая аккредитация".into(),
            workflow_version: 1,
            transition: "submit".into(),
            transition_label: "Подать заявление".into(),
            received_at: at,
            registered_at: at,
            documents: vec![ReceiptDocument {
                doc_type: "diploma".into(),
                label: "Диплом".into(),
                file_name: "диплом.pdf".into(),
                size: 123_456,
                sha256: "ab".repeat(32),
            }],
            signature: ReceiptSignature {
                subject: "Иванова Мария Петровна".into(),
                issuer: "Тестовый УЦ".into(),
                serial: "01".into(),
                algorithm: "ECDSA P-256 / SHA-256".into(),
                signing_time: at,
                certificate_sha256: "cd".repeat(32),
                payload_sha256: "ef".repeat(32),
            },
        }
    }

    /// Receipts are stored once and served as stored, but a change of the writer must still
    /// be a decision: this pins the bytes. A dependency upgrade (lopdf, subsetter, dejavu) may
    /// change them legitimately; then check the PDF by eye and update the hash.
    #[test]
    fn a_fixed_receipt_gives_pinned_bytes() {
        let pdf = render(&receipt()).unwrap();
        assert_eq!(pdf, render(&receipt()).unwrap(), "same receipt, same bytes");
        let text = pdf_extract::extract_text_from_mem(&pdf).unwrap();
        assert!(text.contains("2026-77-000123"), "{text}");
        assert!(text.contains("Иванова Мария Петровна"), "{text}");
        assert_eq!(hex::encode(Sha256::digest(&pdf)), PINNED);
    }

    const PINNED: &str = "1b6ac0d1b7a5fad3ffc36ac4d99b377ebadebbeba8b3d98a76dc1ed88895e260";
}
