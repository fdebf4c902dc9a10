//! `registry_match`: the applicant matches the register of medical workers (ФРМР): found by
//! SNILS, with the same name, birth date and INN; each differing field is listed with both
//! values.

use super::{Facts, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct RegistryMatch;

impl Guard for RegistryMatch {
    fn name(&self) -> &'static str {
        "registry_match"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Registry]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        match &facts.registry {
            Some(r) if r.matched => Ok(()),
            Some(r) => Err(GuardFailure {
                guard: "registry_match",
                code: r.code,
                message: r.message.clone(),
                details: r.details.clone(),
            }),
            // Not gathered: refuse rather than pass.
            None => Err(GuardFailure {
                guard: "registry_match",
                code: "registry_no_identity",
                message: "Не удалось сверить ваши данные с ФРМР".into(),
                details: Vec::new(),
            }),
        }
    }
}
