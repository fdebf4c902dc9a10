//! Streaming table exports: one list of columns, rows of typed cells, two writers (CSV, XLSX)
//! behind one [`TableSink`] interface. Rows go out one at a time; neither writer keeps the
//! rows it has written, so an export of any length runs in flat memory.

use crate::domain::calendar::moscow;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rust_xlsxwriter::{ColNum, ExcelDateTime, Format, RowNum, Workbook, XlsxError};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// One column of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Stable machine name (for the API and tests), e.g. `registered_on`.
    pub key: &'static str,
    /// Header as the commission reads it, in Russian, e.g. `Дата регистрации`.
    pub title: &'static str,
}

/// One cell value.
///
/// Identifiers made of digits (SNILS, INN, case numbers) are [`Cell::Text`], not
/// [`Cell::Int`]: a spreadsheet would drop their leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text, written as a string, never as a formula (see [`needs_formula_guard`]).
    Text(String),
    /// A whole number. An XLSX cell holds it as a double: exact up to 2^53.
    Int(i64),
    /// A calendar date, shown as `ДД.ММ.ГГГГ`.
    Date(NaiveDate),
    /// An instant, shown in Moscow time as `ДД.ММ.ГГГГ чч:мм:сс` (whole seconds).
    DateTime(DateTime<Utc>),
    /// No value.
    Empty,
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<NaiveDate> for Cell {
    fn from(d: NaiveDate) -> Self {
        Self::Date(d)
    }
}

impl From<DateTime<Utc>> for Cell {
    fn from(t: DateTime<Utc>) -> Self {
        Self::DateTime(t)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Empty, Into::into)
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A table needs at least one column.
    #[error("a table needs at least one column")]
    NoColumns,
    /// A row does not match the columns.
    #[error("row {row} has {got} cells, the table has {expected} columns")]
    RowWidth {
        /// Data row number, from 1.
        row: u64,
        /// Number of columns.
        expected: usize,
        /// Number of cells in the row.
        got: usize,
    },
    /// An XLSX worksheet holds at most this many data rows (Excel's limit less the header).
    #[error("an XLSX sheet holds at most {limit} rows; export CSV instead")]
    TooManyRows {
        /// The limit.
        limit: u32,
    },
    /// Writing the CSV failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// Building the XLSX failed (also a text longer than Excel's 32,767 characters).
    #[error("xlsx: {0}")]
    Xlsx(#[from] XlsxError),
    /// Writing the output failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the rows of a table go. The header is written when the sink is made.
pub trait TableSink {
    /// What the sink gives back when done.
    type Output;

    /// Appends one row; it must have one cell per column.
    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError>;

    /// Completes the output (for XLSX: writes the whole file).
    fn finish(self) -> Result<Self::Output, ExportError>;
}

/// Writes all `rows` to `sink`, then finishes it.
pub fn write_all<S, I, R>(mut sink: S, rows: I) -> Result<S::Output, ExportError>
where
    S: TableSink,
    I: IntoIterator<Item = R>,
    R: AsRef<[Cell]>,
{
    for row in rows {
        sink.write_row(row.as_ref())?;
    }
    sink.finish()
}

/// Whether a text would be taken as a formula by a spreadsheet that opens the CSV
/// (OWASP "CSV injection": `=`, `+`, `-`, `@`, tab, carriage return at the start).
pub fn needs_formula_guard(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

fn check_width(columns: usize, row: u64, cells: &[Cell]) -> Result<(), ExportError> {
    if cells.len() == columns {
        Ok(())
    } else {
        Err(ExportError::RowWidth {
            row,
            expected: columns,
            got: cells.len(),
        })
    }
}

const DATE_FORMAT: &str = "%d.%m.%Y";
const DATETIME_FORMAT: &str = "%d.%m.%Y %H:%M:%S";

/// Field separator of the CSV export: `;`, the list separator of Excel in the Russian locale
/// (where `,` is the decimal comma), so a double click opens the file in columns.
pub const CSV_DELIMITER: u8 = b';';

/// UTF-8 byte order mark: without it Excel reads the file as Windows-1251 and the Cyrillic
/// turns to mojibake.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV export: UTF-8 with a BOM, `;`-separated, RFC 4180 quoting and CRLF line ends.
///
/// Dates are `ДД.ММ.ГГГГ` (instants: Moscow `ДД.ММ.ГГГГ чч:мм:сс`), as Russian Excel parses
/// them. A text that a spreadsheet would run as a formula gets a leading `'`.
#[derive(Debug)]
pub struct CsvSink<W: Write> {
    out: csv::Writer<W>,
    columns: usize,
    rows: u64,
    field: String,
}

impl<W: Write> CsvSink<W> {
    /// Writes the BOM and the header row to `out`.
    pub fn new(mut out: W, columns: &[Column]) -> Result<Self, ExportError> {
        if columns.is_empty() {
            return Err(ExportError::NoColumns);
        }
        out.write_all(BOM)?;
        let mut out = csv::WriterBuilder::new()
            .delimiter(CSV_DELIMITER)
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        out.write_record(columns.iter().map(|c| c.title))?;
        Ok(Self {
            out,
            columns: columns.len(),
            rows: 0,
            field: String::new(),
        })
    }
}

impl<W: Write> TableSink for CsvSink<W> {
    /// The writer, flushed.
    type Output = W;

    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        check_width(self.columns, self.rows + 1, row)?;
        for cell in row {
            match cell {
                Cell::Text(s) if !needs_formula_guard(s) => self.out.write_field(s)?,
                _ => {
                    // One reused buffer for every field that is not plain text.
                    csv_field(&mut self.field, cell);
                    self.out.write_field(&self.field)?;
                }
            }
        }
        self.out.write_record(None::<&[u8]>)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> Result<W, ExportError> {
        self.out
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))
    }
}

/// The CSV text of a cell, into `buf`.
fn csv_field(buf: &mut String, cell: &Cell) {
    buf.clear();
    // Writing to a String cannot fail.
    let _ = match cell {
        Cell::Text(s) => {
            if needs_formula_guard(s) {
                buf.push('\'');
            }
            buf.push_str(s);
            Ok(())
        }
        Cell::Int(n) => write!(buf, "{n}"),
        Cell::Date(d) => write!(buf, "{}", d.format(DATE_FORMAT)),
        Cell::DateTime(t) => write!(buf, "{}", moscow(*t).format(DATETIME_FORMAT)),
        Cell::Empty => Ok(()),
    };
}

/// Rows of an XLSX sheet, the header included (Excel's limit).
const XLSX_MAX_ROWS: u32 = 1_048_576;
/// Columns of an XLSX sheet (Excel's limit).
const XLSX_MAX_COLUMNS: usize = 16_384;
/// Column widths, in characters of the default font: never narrower than a short number,
/// never wider than a screen's share for one long text.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

/// An XLSX export on one constant-memory worksheet.
///
/// rust_xlsxwriter keeps only the current row in memory and flushes each finished row to a
/// temp file, created beside the output file (not in the system temp directory, which may
/// be a tmpfs and so memory after all); [`TableSink::finish`] zips it into the output.
/// Header bold and frozen; dates carry a date number format; each column is as wide as its
/// widest value seen (within bounds), since Excel's autofit needs all the cells in memory.
pub struct XlsxSink {
    workbook: Workbook,
    file: File,
    columns: ColNum,
    widths: Vec<usize>,
    next_row: RowNum,
    int: Format,
    date: Format,
    datetime: Format,
}

impl std::fmt::Debug for XlsxSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Workbook is not Debug.
        f.debug_struct("XlsxSink")
            .field("file", &self.file)
            .field("columns", &self.columns)
            .field("next_row", &self.next_row)
            .finish_non_exhaustive()
    }
}

impl XlsxSink {
    /// Creates `path` (truncating it) and a sheet named `sheet` with the header row.
    pub fn create(path: &Path, sheet: &str, columns: &[Column]) -> Result<Self, ExportError> {
        if columns.is_empty() {
            return Err(ExportError::NoColumns);
        }
        if columns.len() > XLSX_MAX_COLUMNS {
            return Err(XlsxError::RowColumnLimitError.into());
        }
        let file = File::create(path)?;
        let mut workbook = Workbook::new();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            workbook.set_tempdir(dir)?;
        }
        let worksheet = workbook.add_worksheet_with_constant_memory()?;
        worksheet.set_name(sheet)?;
        let bold = Format::new().set_bold();
        for (col, c) in (0..).zip(columns) {
            worksheet.write_string_with_format(0, col, c.title, &bold)?;
        }
        worksheet.set_freeze_panes(1, 0)?;
        Ok(Self {
            workbook,
            file,
            columns: columns.len() as ColNum,
            // A bold header is about one character wider than its text.
            widths: columns
                .iter()
                .map(|c| c.title.chars().count() + 1)
                .collect(),
            next_row: 1,
            // "0", not General: General turns 12 digits into 1,23457E+11.
            int: Format::new().set_num_format("0"),
            date: Format::new().set_num_format("dd.mm.yyyy"),
            datetime: Format::new().set_num_format("dd.mm.yyyy hh:mm:ss"),
        })
    }
}

impl TableSink for XlsxSink {
    /// The output file, complete; its position is at the end.
    type Output = File;

    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        check_width(usize::from(self.columns), u64::from(self.next_row), row)?;
        if self.next_row >= XLSX_MAX_ROWS {
            return Err(ExportError::TooManyRows {
                limit: XLSX_MAX_ROWS - 1,
            });
        }
        let r = self.next_row;
        let sheet = self.workbook.worksheet_from_index(0)?;
        for ((col, cell), width) in (0..).zip(row).zip(self.widths.iter_mut()) {
            let shown = match cell {
                Cell::Text(s) => {
                    sheet.write_string(r, col, s)?;
                    s.chars().count()
                }
                Cell::Int(n) => {
                    sheet.write_number_with_format(r, col, *n as f64, &self.int)?;
                    decimal_len(*n)
                }
                Cell::Date(d) => {
                    sheet.write_datetime_with_format(r, col, excel_date(*d)?, &self.date)?;
                    "ДД.ММ.ГГГГ".chars().count()
                }
                Cell::DateTime(t) => {
                    let local = moscow(*t);
                    let at = excel_date(local.date())?.and_hms(
                        local.hour() as u16,
                        local.minute() as u8,
                        local.second(),
                    )?;
                    sheet.write_datetime_with_format(r, col, at, &self.datetime)?;
                    "ДД.ММ.ГГГГ чч:мм:сс".chars().count()
                }
                Cell::Empty => 0,
            };
            *width = (*width).max(shown);
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<File, ExportError> {
        let sheet = self.workbook.worksheet_from_index(0)?;
        for (col, width) in (0..).zip(&self.widths) {
            // Two characters of padding, as Excel's own autofit leaves.
            let width = (width + 2).clamp(MIN_WIDTH, MAX_WIDTH);
            sheet.set_column_width(col, width as f64)?;
        }
        let mut out = BufWriter::new(&mut self.file);
        self.workbook.save_to_writer(&mut out)?;
        out.flush()?;
        drop(out);
        Ok(self.file)
    }
}

/// The Excel date of a day (years 1900–9999, Excel's range; others are an error).
fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)
}

/// Characters of a number in decimal, with its sign.
fn decimal_len(n: i64) -> usize {
    let digits = n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l as usize + 1);
    digits + usize::from(n < 0)
}

/// A sink of either format, for a caller that chooses the format at run time.
#[derive(Debug)]
pub enum AnySink {
    /// CSV into a buffered file.
    Csv(Box<CsvSink<std::io::BufWriter<File>>>),
    /// XLSX.
    Xlsx(Box<XlsxSink>),
}

impl TableSink for AnySink {
    /// Nothing: the output is the file the sink was made on.
    type Output = ();

    fn write_row(&mut self, row: &[Cell]) -> Result<(), ExportError> {
        match self {
            AnySink::Csv(s) => s.write_row(row),
            AnySink::Xlsx(s) => s.write_row(row),
        }
    }

    fn finish(self) -> Result<(), ExportError> {
        match self {
            AnySink::Csv(s) => (*s).finish().map(drop),
            AnySink::Xlsx(s) => (*s).finish().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook};

    const COLUMNS: &[Column] = &[
        Column {
            key: "number",
            title: "Номер заявления",
        },
        Column {
            key: "specialist",
            title: "Специалист",
        },
        Column {
            key: "registered_on",
            title: "Дата регистрации",
        },
        Column {
            key: "decided_at",
            title: "Решение принято (МСК)",
        },
        Column {
            key: "working_days",
            title: "Рабочих дней",
        },
    ];

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn instant(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn row(number: &str, name: &str, days: i64) -> Vec<Cell> {
        vec![
            number.into(),
            name.into(),
            date(2025, 3, 14).into(),
            // 21:30 UTC is 00:30 of the next day in Moscow.
            instant("2025-03-14T21:30:00Z").into(),
            days.into(),
        ]
    }

    #[test]
    fn formula_guard_covers_the_owasp_prefixes() {
        for s in ["=1+1", "+79001234567", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(needs_formula_guard(s), "{s:?}");
        }
        for s in ["", "Иванов", "1-2", " =1", "'=1", "№ 12"] {
            assert!(!needs_formula_guard(s), "{s:?}");
        }
    }

    #[test]
    fn csv_round_trips_cyrillic_quoting_and_guards_formulas() {
        let rows = vec![
            row("А-001", "Ёлкина Анна; \"Аня\"\nСергеевна", 7),
            row("=HYPERLINK(\"http://x\";\"клик\")", "+7 900 000-00-00", -5),
            row("-2+3", "@SUM(A1)", 0),
            row("\tтаб", "\rвозврат", 12),
            vec![
                Cell::Empty,
                Cell::Text(String::new()),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
            ],
        ];
        let sink = CsvSink::new(Vec::new(), COLUMNS).unwrap();
        let bytes = write_all(sink, &rows).unwrap();

        assert!(bytes.starts_with(BOM), "BOM first, for Excel");
        let text = std::str::from_utf8(&bytes[BOM.len()..]).unwrap();
        assert!(text.starts_with(
            "Номер заявления;Специалист;Дата регистрации;Решение принято (МСК);Рабочих дней\r\n"
        ));
        assert!(
            text.contains(
                "А-001;\"Ёлкина Анна; \"\"Аня\"\"\nСергеевна\";14.03.2025;15.03.2025 00:30:00;7\r\n"
            ),
            "{text}"
        );

        let mut reader = csv::ReaderBuilder::new()
            .delimiter(CSV_DELIMITER)
            .from_reader(&bytes[BOM.len()..]);
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let titles: Vec<&str> = COLUMNS.iter().map(|c| c.title).collect();
        assert_eq!(headers, titles);
        let records: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let expected = [
            [
                "А-001",
                "Ёлкина Анна; \"Аня\"\nСергеевна",
                "14.03.2025",
                "15.03.2025 00:30:00",
                "7",
            ],
            [
                "'=HYPERLINK(\"http://x\";\"клик\")",
                "'+7 900 000-00-00",
                "14.03.2025",
                "15.03.2025 00:30:00",
                // A number, not text: not guarded.
                "-5",
            ],
            [
                "'-2+3",
                "'@SUM(A1)",
                "14.03.2025",
                "15.03.2025 00:30:00",
                "0",
            ],
            [
                "'\tтаб",
                "'\rвозврат",
                "14.03.2025",
                "15.03.2025 00:30:00",
                "12",
            ],
            ["", "", "", "", ""],
        ];
        assert_eq!(records, expected);
    }

    #[test]
    fn csv_keeps_an_empty_row_of_a_one_column_table() {
        let sink = CsvSink::new(Vec::new(), &COLUMNS[..1]).unwrap();
        let bytes = write_all(sink, [[Cell::Empty], [Cell::Int(1)]]).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(CSV_DELIMITER)
            .from_reader(&bytes[BOM.len()..]);
        let records: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        assert_eq!(records, ["", "1"], "an empty line would be skipped");
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        let mut sink = CsvSink::new(Vec::new(), COLUMNS).unwrap();
        let err = sink.write_row(&[Cell::Int(1)]).unwrap_err();
        assert!(
            matches!(
                err,
                ExportError::RowWidth {
                    row: 1,
                    expected: 5,
                    got: 1
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            CsvSink::new(Vec::new(), &[]),
            Err(ExportError::NoColumns)
        ));
    }

    #[test]
    fn xlsx_of_thousands_of_rows_reads_back() {
        const ROWS: i64 = 3_000;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.xlsx");
        let mut sink = XlsxSink::create(&path, "Заявления", COLUMNS).unwrap();
        for i in 0..ROWS {
            let name = if i == 1 {
                "=1+1".to_owned()
            } else {
                format!("Специалистов Пётр №{i}")
            };
            sink.write_row(&row(&format!("А-{i:05}"), &name, i * 1_000_000_007))
                .unwrap();
        }
        sink.write_row(&[
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ])
        .unwrap();
        sink.finish().unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no scratch file left beside the output");

        let mut book: Xlsx<_> = open_workbook(&path).unwrap();
        assert_eq!(book.sheet_names(), ["Заявления"]);
        let range = book.worksheet_range("Заявления").unwrap();
        assert_eq!(range.height(), 1 + ROWS as usize, "header and data rows");
        assert_eq!(range.width(), COLUMNS.len());
        let header: Vec<String> = range
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let titles: Vec<&str> = COLUMNS.iter().map(|c| c.title).collect();
        assert_eq!(header, titles);

        let cell = |r: u32, c: u32| range.get_value((r, c)).unwrap().clone();
        assert_eq!(cell(1, 0), Data::String("А-00000".into()));
        assert_eq!(cell(1, 1), Data::String("Специалистов Пётр №0".into()));
        assert_eq!(
            cell(2, 1),
            Data::String("=1+1".into()),
            "text, not a formula"
        );
        let number = match cell(2_001, 4) {
            Data::Float(f) => f,
            Data::Int(n) => n as f64,
            other => panic!("a number, got {other:?}"),
        };
        assert_eq!(number, 2_000.0 * 1_000_000_007.0);
        let Data::DateTime(d) = cell(3, 2) else {
            panic!("a date, got {:?}", cell(3, 2));
        };
        assert!(d.is_datetime());
        assert_eq!(d.to_ymd_hms_milli(), (2025, 3, 14, 0, 0, 0, 0));
        let Data::DateTime(t) = cell(ROWS as u32, 3) else {
            panic!("a date and time, got {:?}", cell(ROWS as u32, 3));
        };
        assert_eq!(
            t.to_ymd_hms_milli(),
            (2025, 3, 15, 0, 30, 0, 0),
            "Moscow time"
        );

        let formulas = book.worksheet_formula("Заявления").unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formulas at all"
        );
    }

    #[test]
    fn xlsx_stops_at_excels_row_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink =
            XlsxSink::create(&dir.path().join("big.xlsx"), "Лист", &COLUMNS[..1]).unwrap();
        sink.next_row = XLSX_MAX_ROWS;
        let err = sink.write_row(&[Cell::Int(1)]).unwrap_err();
        assert!(
            matches!(err, ExportError::TooManyRows { limit: 1_048_575 }),
            "{err:?}"
        );
    }

    #[test]
    fn decimal_len_counts_sign_and_digits() {
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(-100), 4);
        assert_eq!(decimal_len(i64::MIN), 20);
    }
}
