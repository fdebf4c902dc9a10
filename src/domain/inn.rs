//! ИНН — taxpayer identification number: 10 digits for organizations, 12 for individuals.

use serde::{Deserialize, Serialize};

/// A valid INN (10 or 12 digits with matching control digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Inn(String);

/// Why a text is not an INN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InnError {
    /// Not 10 or 12 digits.
    #[error("INN must have 10 or 12 digits")]
    Format,
    /// A control digit does not match.
    #[error("INN checksum does not match")]
    Checksum,
}

const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
const W11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

fn control(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 11 % 10
}

impl Inn {
    /// Parses an INN of an organization (10 digits) or an individual (12 digits).
    pub fn parse(raw: &str) -> Result<Self, InnError> {
        let raw = raw.trim();
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InnError::Format);
        }
        let d: Vec<u32> = raw.bytes().map(|b| u32::from(b - b'0')).collect();
        let ok = match d.len() {
            10 => control(&d[..9], &W10) == d[9],
            12 => control(&d[..10], &W11) == d[10] && control(&d[..11], &W12) == d[11],
            _ => return Err(InnError::Format),
        };
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InnError::Checksum)
        }
    }

    /// The individual's INN whose first ten digits are `number` (mod 10^10), with its two
    /// control digits: for synthetic data.
    pub fn individual_from_number(number: u64) -> Self {
        let first = format!("{:010}", number % 10_000_000_000);
        let mut d: Vec<u32> = first.bytes().map(|b| u32::from(b - b'0')).collect();
        d.push(control(&d, &W11));
        d.push(control(&d, &W12));
        Self(
            d.iter()
                .map(|x| char::from(b'0' + x.to_le_bytes()[0]))
                .collect(),
        )
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is an individual's (12-digit) INN.
    pub fn is_individual(&self) -> bool {
        self.0.len() == 12
    }
}

impl TryFrom<String> for Inn {
    type Error = InnError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Inn> for String {
    fn from(value: Inn) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_vectors() {
        // Federal Tax Service's own INN (10 digits) and well-known valid individual INNs.
        assert!(Inn::parse("7707329152").is_ok());
        assert!(Inn::parse("7830002293").is_ok());
        assert!(Inn::parse("500100732259").is_ok());
        assert!(Inn::parse("773370857141").is_ok());
        assert_eq!(Inn::parse("7707329153"), Err(InnError::Checksum));
        assert_eq!(Inn::parse("500100732258"), Err(InnError::Checksum));
        assert_eq!(Inn::parse("12345"), Err(InnError::Format));
        assert_eq!(Inn::parse("77073291x2"), Err(InnError::Format));
    }

    proptest! {
        #[test]
        fn synthetic_individual_inns_parse(n in 0u64..10_000_000_000) {
            let inn = Inn::individual_from_number(n);
            prop_assert!(Inn::parse(inn.as_str()).is_ok_and(|p| p.is_individual()), "{}", inn.as_str());
        }
        #[test]
        fn ten_digit_control_is_unique(n in 0u64..1_000_000_000) {
            let nine = format!("{n:09}");
            let valid = (0..10).filter(|c| Inn::parse(&format!("{nine}{c}")).is_ok()).count();
            prop_assert_eq!(valid, 1);
        }

        #[test]
        fn twelve_digit_controls_are_unique(n in 0u64..10_000_000_000) {
            let ten = format!("{n:010}");
            let valid = (0..100).filter(|c| Inn::parse(&format!("{ten}{c:02}")).is_ok()).count();
            prop_assert_eq!(valid, 1);
        }
    }
}
