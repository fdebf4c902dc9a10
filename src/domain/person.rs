//! A person as an identity provider describes them: a domain type, so that the register
//! cross-check and the guards can take it without importing the login capability.

/// A person as the identity provider describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable person id at the provider.
    pub subject: String,
    /// Confirmed account.
    pub trusted: bool,
    /// Last name.
    pub last_name: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Birth date, ISO `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// SNILS as given.
    pub snils: Option<String>,
    /// INN as given.
    pub inn: Option<String>,
}

impl Identity {
    /// "Last First Middle", or the subject when no name came.
    pub fn display_name(&self) -> String {
        let parts: Vec<&str> = [&self.last_name, &self.first_name, &self.middle_name]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        if parts.is_empty() {
            self.subject.clone()
        } else {
            parts.join(" ")
        }
    }
}
