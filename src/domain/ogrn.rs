//! ОГРН (13 digits, organizations) and ОГРНИП (15 digits, individual entrepreneurs).

use serde::{Deserialize, Serialize};

/// A valid OGRN or OGRNIP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ogrn(String);

/// Why a text is not an OGRN/OGRNIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OgrnError {
    /// Not 13 or 15 digits.
    #[error("OGRN must have 13 digits (OGRNIP 15)")]
    Format,
    /// The control digit does not match.
    #[error("OGRN checksum does not match")]
    Checksum,
}

impl Ogrn {
    /// Parses a 13-digit OGRN or a 15-digit OGRNIP. The control digit is the remainder of the
    /// number formed by the other digits divided by 11 (OGRN) or 13 (OGRNIP), taken mod 10.
    pub fn parse(raw: &str) -> Result<Self, OgrnError> {
        let raw = raw.trim();
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OgrnError::Format);
        }
        let divisor = match raw.len() {
            13 => 11,
            15 => 13,
            _ => return Err(OgrnError::Format),
        };
        let (body, control) = raw.split_at(raw.len() - 1);
        let remainder = body
            .bytes()
            .fold(0u64, |acc, b| (acc * 10 + u64::from(b - b'0')) % divisor);
        if u64::from(control.as_bytes()[0] - b'0') == remainder % 10 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(OgrnError::Checksum)
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is an OGRNIP (individual entrepreneur).
    pub fn is_individual(&self) -> bool {
        self.0.len() == 15
    }
}

impl TryFrom<String> for Ogrn {
    type Error = OgrnError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Ogrn> for String {
    fn from(value: Ogrn) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_vectors() {
        // Registered OGRNs of large banks and a textbook OGRNIP.
        for ok in [
            "1027700132195",
            "1027739609391",
            "1037700013020",
            "304500116000157",
        ] {
            assert!(Ogrn::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Ogrn::parse("1027700132196"), Err(OgrnError::Checksum));
        assert_eq!(Ogrn::parse("304500116000158"), Err(OgrnError::Checksum));
        assert_eq!(Ogrn::parse("10277001321"), Err(OgrnError::Format));
        assert_eq!(Ogrn::parse("10277001321x5"), Err(OgrnError::Format));
        assert!(Ogrn::parse("304500116000157").is_ok_and(|o| o.is_individual()));
    }

    proptest! {
        #[test]
        fn exactly_one_control_digit_for_ogrn(n in 0u64..1_000_000_000_000) {
            let body = format!("{n:012}");
            let valid = (0..10).filter(|c| Ogrn::parse(&format!("{body}{c}")).is_ok()).count();
            prop_assert_eq!(valid, 1);
        }

        #[test]
        fn exactly_one_control_digit_for_ogrnip(n in 0u64..100_000_000_000_000) {
            let body = format!("{n:014}");
            let valid = (0..10).filter(|c| Ogrn::parse(&format!("{body}{c}")).is_ok()).count();
            prop_assert_eq!(valid, 1);
        }
    }
}
