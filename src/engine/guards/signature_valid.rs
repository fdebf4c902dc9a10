//! `signature_valid`: the request carries a detached CMS signature of the applicant over
//! exactly the case's signing payload, verified against the trust store.

use super::{Facts, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct SignatureValid;

impl Guard for SignatureValid {
    fn name(&self) -> &'static str {
        "signature_valid"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Signature]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        match &facts.signature {
            Some(Ok(())) => Ok(()),
            Some(Err(refusal)) => Err(GuardFailure {
                guard: "signature_valid",
                code: refusal.code,
                message: refusal.message.clone(),
                details: Vec::new(),
            }),
            None => Err(GuardFailure {
                guard: "signature_valid",
                code: "signature_missing",
                message: "Не удалось проверить электронную подпись".into(),
                details: Vec::new(),
            }),
        }
    }
}
