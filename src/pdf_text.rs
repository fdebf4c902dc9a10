//! Lines of text as A4 PDF pages, shared by the documents accredo issues (the receipt, the
//! accreditation record). The text is set in DejaVu Sans (from the `dejavu` crate, so nothing
//! is read at run time), subset to the glyphs used (`subsetter`) and embedded as a Type0 /
//! CIDFontType2 font with Identity-H encoding and a ToUnicode map, so that any reader — and
//! text extraction — gets the Cyrillic text back. Written with lopdf (re-exported by
//! pdf-extract); no dates or ids in the file, so the same lines give the same bytes.

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Document, Object, Stream, StringFormat, dictionary};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Why a PDF could not be made (a bug or a character the font lacks).
#[derive(Debug, thiserror::Error)]
#[error("PDF: {0}")]
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
/// The left margin (points).
pub const LEFT: f32 = 56.0;

/// The text of a document, line by line, top to bottom.
#[derive(Debug, Clone, Default)]
pub struct Lines(Vec<(Line, f32)>);

impl Lines {
    /// No lines yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `text` at `x` points from the left edge in `size` points, its baseline `gap` points
    /// below the previous line (the first line sits at the top margin). A long text is wrapped
    /// on spaces: at 60 characters for headings (above 11 pt), 88 for body text; each wrapped
    /// part keeps the same gap.
    pub fn push(&mut self, x: f32, size: f32, text: &str, gap: f32) {
        for part in wrap(text, if size > 11.0 { 60 } else { 88 }) {
            self.0.push((
                Line {
                    x,
                    size,
                    text: part,
                },
                gap,
            ));
        }
    }
}

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

/// The lines as a PDF: a new page whenever the next line would fall below the bottom margin.
pub fn render(lines: &Lines) -> Result<Vec<u8>, PdfError> {
    let ttf: &[u8] = dejavu::sans::regular();
    let face = ttf_parser::Face::parse(ttf, 0).map_err(err)?;
    let upem = f32::from(face.units_per_em());
    let em = |v: f32| (v * 1000.0 / upem).round() as i64;

    let lines = &lines.0;
    let mut remap = subsetter::GlyphRemapper::new();
    let mut unicode: BTreeMap<u16, char> = BTreeMap::new();
    let mut widths: BTreeMap<u16, i64> = BTreeMap::new();
    let mut shown: Vec<Vec<u8>> = Vec::with_capacity(lines.len());
    for (line, _) in lines {
        let mut codes = Vec::with_capacity(line.text.len() * 2);
        for ch in line.text.chars() {
            // A character the font lacks is shown as '?' rather than failing the caller.
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
