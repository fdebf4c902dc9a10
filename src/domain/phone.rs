//! Russian phone numbers as the cabinet accepts them.

/// Normalises a Russian phone number to `+7XXXXXXXXXX`; accepts `+7`, `8` or `7` prefixes and
/// the usual separators (spaces, hyphens, parentheses).
pub fn normalize_ru_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
    {
        return None;
    }
    if trimmed.chars().skip(1).any(|c| c == '+') {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let national = match (digits.len(), digits.as_bytes().first()) {
        (11, Some(b'7' | b'8')) => &digits[1..],
        _ => return None,
    };
    Some(format!("+7{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_spellings() {
        for s in ["+7 (912) 345-67-89", "89123456789", "7 912 345 67 89"] {
            assert_eq!(
                normalize_ru_phone(s).as_deref(),
                Some("+79123456789"),
                "{s}"
            );
        }
    }

    #[test]
    fn refuses_garbage() {
        for s in [
            "",
            "12345",
            "+1 912 345 67 89",
            "8912345678a",
            "+7+9123456789",
        ] {
            assert_eq!(normalize_ru_phone(s), None, "{s}");
        }
    }
}
