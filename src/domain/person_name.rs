//! Comparing people's names as Russian registers write them.

/// Normalises a name for comparison: case, ё/е, and spaces and hyphens (any kind) ignored.
pub fn normalize_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '‐' | '‑' | '‒' | '–' | '—'))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// Whether two names are the same after [`normalize_name`] (an empty name is no name).
pub fn same_name(a: Option<&str>, b: Option<&str>) -> bool {
    let norm = |s: Option<&str>| s.map(normalize_name).filter(|s| !s.is_empty());
    norm(a) == norm(b)
}

/// A name as a search key: lower case, ё as е, any dash as `-`, runs of spaces as one; a
/// prefix of the key of "Иванова Мария" is what a search for "иванова м" matches.
pub fn search_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(match c {
                'ё' => 'е',
                '‐' | '‑' | '‒' | '–' | '—' => '-',
                c => c,
            });
        }
    }
    out
}

#[cfg(test)]
mod search_key_tests {
    use super::search_key;

    #[test]
    fn keys_ignore_case_yo_dashes_and_spacing() {
        assert_eq!(search_key("  Семёнова–Ли   Мария "), "семенова-ли мария");
        assert!(search_key("Семёнова-Ли Мария").starts_with(&search_key("СЕМЕНОВА-ЛИ М")));
    }
}
