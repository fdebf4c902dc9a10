//! СНИЛС — the insurance number of an individual personal account.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A valid SNILS: 11 digits whose checksum matches (numbers up to 001-001-998 carry none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Snils(String);

/// Why a text is not a SNILS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnilsError {
    /// Not 11 digits (separators `-` and spaces are allowed).
    #[error("SNILS must have 11 digits")]
    Format,
    /// The control number does not match.
    #[error("SNILS checksum does not match")]
    Checksum,
}

/// Numbers at or below this one were issued before checksums were introduced.
const LAST_WITHOUT_CHECKSUM: u64 = 1_001_998;

impl Snils {
    /// Parses `XXX-XXX-XXX YY`, `XXXXXXXXXXX` or anything in between.
    pub fn parse(raw: &str) -> Result<Self, SnilsError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SnilsError::Format);
        }
        let bytes = digits.as_bytes();
        let number: u64 = bytes[..9]
            .iter()
            .fold(0, |acc, b| acc * 10 + u64::from(b - b'0'));
        let control = u32::from(bytes[9] - b'0') * 10 + u32::from(bytes[10] - b'0');
        if number > LAST_WITHOUT_CHECKSUM && checksum(&bytes[..9]) != control {
            return Err(SnilsError::Checksum);
        }
        Ok(Self(digits))
    }

    /// The SNILS with this nine-digit number (mod 10^9) and its control number: for
    /// synthetic data.
    pub fn from_number(number: u64) -> Self {
        let nine = format!("{:09}", number % 1_000_000_000);
        let control = checksum(nine.as_bytes());
        Self(format!("{nine}{control:02}"))
    }

    /// The 11 digits without separators.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// The control number of the first nine digits.
fn checksum(nine: &[u8]) -> u32 {
    let sum: u32 = nine
        .iter()
        .zip((1..=9).rev())
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    match sum {
        0..=99 => sum,
        100 | 101 => 0,
        _ => match sum % 101 {
            100 => 0,
            r => r,
        },
    }
}

impl fmt::Display for Snils {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        write!(f, "{}-{}-{} {}", &d[0..3], &d[3..6], &d[6..9], &d[9..11])
    }
}

impl TryFrom<String> for Snils {
    type Error = SnilsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Snils> for String {
    fn from(value: Snils) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_examples() {
        // Examples from the Pension Fund's description of the control number.
        assert!(Snils::parse("112-233-445 95").is_ok());
        assert!(Snils::parse("11223344595").is_ok());
        assert_eq!(Snils::parse("112-233-445 96"), Err(SnilsError::Checksum));
        assert!(Snils::parse("087-654-303 00").is_ok());
        assert_eq!(Snils::parse("123"), Err(SnilsError::Format));
        assert_eq!(Snils::parse("1122334459a"), Err(SnilsError::Format));
    }

    #[test]
    fn old_numbers_carry_no_checksum() {
        assert!(Snils::parse("001-001-998 00").is_ok());
        assert!(Snils::parse("001-001-998 77").is_ok());
        assert!(Snils::parse("001-001-999 77").is_err());
    }

    #[test]
    fn displays_canonical_form() {
        let s = Snils::parse("11223344595").map(|s| s.to_string());
        assert_eq!(s.as_deref(), Ok("112-233-445 95"));
    }

    proptest! {
        #[test]
        fn synthetic_numbers_parse(n in 0u64..1_000_000_000) {
            let s = Snils::from_number(n);
            prop_assert_eq!(Snils::parse(s.digits()).map(|p| p.digits().to_owned()), Ok(s.digits().to_owned()));
        }
        #[test]
        fn exactly_one_control_number_is_valid(n in 1_001_999u64..1_000_000_000) {
            let nine = format!("{n:09}");
            let valid: Vec<u32> = (0..100)
                .filter(|c| Snils::parse(&format!("{nine}{c:02}")).is_ok())
                .collect();
            prop_assert_eq!(valid.len(), 1);
            prop_assert_eq!(valid[0], checksum(nine.as_bytes()));
        }

        #[test]
        fn parse_display_roundtrip(n in 1_001_999u64..1_000_000_000) {
            let nine = format!("{n:09}");
            let s = Snils::parse(&format!("{nine}{:02}", checksum(nine.as_bytes())));
            let s = s.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Snils::parse(&s.to_string()), Ok(s));
        }
    }
}
