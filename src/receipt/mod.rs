//! The act of submission (receipt): a number unique per installation (`2026-77-000123`:
//! year, region code, sequence), and the same content as PDF (Cyrillic, embedded font) and XML
//! (schema `schemas/receipt.xsd`). Both are made once, in the transaction of the submission,
//! and stored, so every download is byte-identical.

pub mod pdf;
pub mod xml;

use chrono::{DateTime, Utc};

/// Moscow local time of `t` (the calendar's one definition of it).
pub use crate::domain::calendar::moscow as in_moscow;

/// `23.11.2026 12:00:00 МСК`.
pub fn moscow_time(t: DateTime<Utc>) -> String {
    format!("{} МСК", in_moscow(t).format("%d.%m.%Y %H:%M:%S"))
}

/// `2026-11-23T12:00:00+03:00` (xs:dateTime in Moscow time).
pub fn moscow_iso(t: DateTime<Utc>) -> String {
    format!("{}+03:00", in_moscow(t).format("%Y-%m-%dT%H:%M:%S"))
}

/// The receipt number: year (Moscow time), region code, sequence.
pub fn number(year: i32, region: &str, seq: i64) -> String {
    format!("{year}-{region}-{seq:06}")
}

/// One document on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptDocument {
    /// Type code.
    pub doc_type: String,
    /// Russian label of the type.
    pub label: String,
    /// The user's file name.
    pub file_name: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 (hex).
    pub sha256: String,
}

/// The signature on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSignature {
    /// Signer (certificate subject).
    pub subject: String,
    /// Certification authority.
    pub issuer: String,
    /// Certificate serial (hex).
    pub serial: String,
    /// Algorithm.
    pub algorithm: String,
    /// Signing time.
    pub signing_time: DateTime<Utc>,
    /// SHA-256 of the signer certificate (hex).
    pub certificate_sha256: String,
    /// SHA-256 of the signed payload (hex).
    pub payload_sha256: String,
}

/// Everything a receipt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `2026-77-000123`.
    pub number: String,
    /// The case.
    pub case_id: String,
    /// Applicant's full name.
    pub applicant: String,
    /// Applicant's SNILS (11 digits).
    pub snils: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow label (Russian).
    pub workflow_label: String,
    /// Workflow version.
    pub workflow_version: u32,
    /// `submit` or `resubmit`.
    pub transition: String,
    /// Russian label of the transition.
    pub transition_label: String,
    /// When the submission arrived.
    pub received_at: DateTime<Utc>,
    /// When it is registered: the arrival within intake hours of a working day, else the next
    /// opening (deadlines count from here).
    pub registered_at: DateTime<Utc>,
    /// Attached documents.
    pub documents: Vec<ReceiptDocument>,
    /// The electronic signature.
    pub signature: ReceiptSignature,
}

/// `123-456-789 01` from 11 digits (as printed on the card).
pub fn format_snils(digits: &str) -> String {
    if digits.len() == 11 && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}-{}-{} {}",
            &digits[0..3],
            &digits[3..6],
            &digits[6..9],
            &digits[9..11]
        )
    } else {
        digits.to_owned()
    }
}
