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
