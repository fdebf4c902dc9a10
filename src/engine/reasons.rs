//! The catalogue of reasons a subcommission gives for a rejection: stable codes with Russian
//! texts, from `workflows/reasons/rejection.yaml`, validated at load like a workflow.

use super::validate::Problem;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    /// Stable code.
    pub code: String,
    /// What the applicant reads (Russian).
    pub text: String,
    /// Workflows it applies to; every workflow when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<String>,
}

impl Reason {
    /// Whether it may be given in `workflow`.
    pub fn applies_to(&self, workflow: &str) -> bool {
        self.workflows.is_empty() || self.workflows.iter().any(|w| w == workflow)
    }
}

/// The catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reasons {
    reasons: Vec<Reason>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReasons {
    reasons: Vec<Reason>,
}

/// Where the catalogue lives, beside the workflow files.
pub const FILE: &str = "reasons/rejection.yaml";

impl Reasons {
    /// Parses and validates a catalogue: codes snake_case and unique, texts present.
    pub fn parse(file: &str, yaml: &str) -> Result<Self, Vec<Problem>> {
        let problem = |item: String, code: &'static str, message: String| Problem {
            file: file.to_owned(),
            line: None,
            item,
            code,
            message,
        };
        let raw: RawReasons =
            from_yaml(yaml).map_err(|e| vec![problem("file".into(), "invalid_yaml", e)])?;
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for r in &raw.reasons {
            let item = format!("reason {}", r.code);
            let valid = !r.code.is_empty()
                && r.code.len() <= 64
                && r.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                problems.push(problem(
                    item.clone(),
                    "invalid_reason_code",
                    "a code is 1–64 characters of a-z, 0-9 and _".into(),
                ));
            }
            if !seen.insert(r.code.clone()) {
                problems.push(problem(
                    item.clone(),
                    "duplicate_reason",
                    "another reason has this code".into(),
                ));
            }
            if r.text.trim().is_empty() {
                problems.push(problem(
                    item,
                    "reason_text_missing",
                    "a reason needs a text".into(),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Reasons {
                reasons: raw.reasons,
            })
        } else {
            Err(problems)
        }
    }

    /// Reads the catalogue of a workflows directory; none there is an empty catalogue.
    pub fn read_dir(workflows_dir: &Path) -> Result<Self, Vec<Problem>> {
        let path = workflows_dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(yaml) => Self::parse(&path.display().to_string(), &yaml),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Reasons::default()),
            Err(e) => Err(vec![Problem {
                file: path.display().to_string(),
                line: None,
                item: "file".into(),
                code: "unreadable",
                message: e.to_string(),
            }]),
        }
    }

    /// The reasons that apply to `workflow`.
    pub fn for_workflow<'a>(&'a self, workflow: &'a str) -> impl Iterator<Item = &'a Reason> {
        self.reasons.iter().filter(move |r| r.applies_to(workflow))
    }

    /// The reason `code` if it applies to `workflow`.
    pub fn find(&self, workflow: &str, code: &str) -> Option<&Reason> {
        self.reasons
            .iter()
            .find(|r| r.code == code && r.applies_to(workflow))
    }
}

fn from_yaml(yaml: &str) -> Result<RawReasons, String> {
    marked_yaml::from_yaml(0, yaml).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_loads_and_scopes_by_workflow() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        let reasons = Reasons::read_dir(&dir).expect("valid catalogue");
        assert!(
            reasons
                .find("primary_accreditation", "documents_incomplete")
                .is_some()
        );
        assert!(
            reasons
                .find("periodic_accreditation", "experience_insufficient")
                .is_some()
        );
        assert!(
            reasons
                .find("primary_accreditation", "experience_insufficient")
                .is_none()
        );
        assert!(
            reasons
                .find("periodic_accreditation", "no_such_reason")
                .is_none()
        );
    }

    #[test]
    fn bad_codes_duplicates_and_missing_texts_are_refused() {
        let yaml = "reasons:\n  - code: Bad Code\n    text: x\n  - code: a\n    text: x\n  - code: a\n    text: ' '\n";
        let problems = Reasons::parse("r.yaml", yaml).expect_err("refused");
        let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "invalid_reason_code",
                "duplicate_reason",
                "reason_text_missing"
            ]
        );
        let unknown = Reasons::parse("r.yaml", "reasons: []\nextra: 1\n").expect_err("refused");
        assert_eq!(unknown[0].code, "invalid_yaml");
    }
}
