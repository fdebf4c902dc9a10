//! `file_case`: copies what the commission's queue filters and sorts by from the form onto the
//! case row as it is filed (submitted or resubmitted): the specialty (which subcommission sees
//! it), the region, the applicant's name (and its search key) and SNILS.
//!
//! The region is the subject of the Russian Federation of the employer: the first two digits
//! of its INN (the tax office code starts with the region's), else the cabinet's own region.

use super::{Effect, EffectContext, Filed};
use crate::domain::person_name::search_key;
use crate::domain::snils::Snils;
use crate::service::ServiceError;
use crate::store::DbConnection;
use serde_json::Value;

/// The effect.
#[derive(Debug)]
pub struct FileCase;

fn text<'a>(form: &'a Value, pointer: &str) -> Option<&'a str> {
    form.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The applicant's full name on the form ("Last First Middle"), if it has one.
pub fn full_name(form: &Value) -> Option<String> {
    let name: Vec<&str> = [
        "/applicant/last_name",
        "/applicant/first_name",
        "/applicant/middle_name",
    ]
    .iter()
    .filter_map(|p| text(form, p))
    .collect();
    (!name.is_empty()).then(|| name.join(" "))
}

/// What the queue files a case with this form by; `region` is the fallback region code.
pub fn filed(form: &Value, region: &str) -> Filed {
    let name = full_name(form);
    let region = text(form, "/employment/organization_inn")
        .filter(|inn| inn.len() >= 2 && inn.bytes().take(2).all(|b| b.is_ascii_digit()))
        .map_or_else(|| region.to_owned(), |inn| inn[..2].to_owned());
    Filed {
        specialty: text(form, "/specialty/code").map(str::to_owned),
        region: Some(region),
        name_key: name.as_deref().map(search_key),
        applicant_name: name,
        snils: text(form, "/applicant/snils")
            .and_then(|s| Snils::parse(s).ok())
            .map(|s| s.digits().to_owned()),
    }
}

impl Effect for FileCase {
    fn name(&self) -> &'static str {
        "file_case"
    }

    fn apply(
        &self,
        _conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        cx.patch.filed = Some(filed(cx.form, &cx.signing.region));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_form_is_filed_by_specialty_employer_region_name_and_snils() {
        let form = json!({
            "applicant": {"last_name": "Семёнова", "first_name": "Мария", "snils": "112-233-445 95"},
            "specialty": {"code": "31.08.49", "name": "Терапия"},
            "employment": {"organization_inn": "5001007322"}
        });
        let f = filed(&form, "77");
        assert_eq!(f.specialty.as_deref(), Some("31.08.49"));
        assert_eq!(f.region.as_deref(), Some("50"));
        assert_eq!(f.applicant_name.as_deref(), Some("Семёнова Мария"));
        assert_eq!(f.name_key.as_deref(), Some("семенова мария"));
        assert_eq!(f.snils.as_deref(), Some("11223344595"));
        let bare = filed(&json!({}), "77");
        assert_eq!(bare.region.as_deref(), Some("77"));
        assert_eq!(bare.specialty, None);
    }
}
