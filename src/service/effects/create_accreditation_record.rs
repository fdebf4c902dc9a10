//! `create_accreditation_record`: an approval issues the accreditation record (выписка о
//! прохождении аккредитации) — a number of its own (`A-2026-77-000001`), the kind the workflow
//! grants, the specialty, the decision date and the last day it is valid (five years on, by
//! the Federal Law 323-FZ art. 69), rendered once as PDF and XML and stored, so every download
//! is byte-identical. The record is handed on to `export_to_register`.

use super::{Effect, EffectContext};
use crate::accreditation::{self, Kind, Record};
use crate::domain::calendar::moscow;
use crate::domain::snils::Snils;
use crate::service::ServiceError;
use crate::store::schema::accreditation_records as ar;
use crate::store::signatures as counters;
use crate::store::{DbConnection, StoreError};
use chrono::Datelike;
use diesel::prelude::*;
use serde_json::{Value, json};

/// How long an accreditation is valid, in years.
pub const VALID_YEARS: u32 = 5;

/// The effect.
#[derive(Debug)]
pub struct CreateAccreditationRecord;

fn text(form: &Value, pointer: &str) -> Option<String> {
    form.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn corrupt(what: &str, case: &str) -> ServiceError {
    StoreError::Corrupt(format!(
        "{what} of case {case} for its accreditation record"
    ))
    .into()
}

impl Effect for CreateAccreditationRecord {
    fn name(&self) -> &'static str {
        "create_accreditation_record"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let case = cx.case;
        let def = &cx.workflow.definition;
        let kind = Kind::from_workflow(&def.id).ok_or_else(|| corrupt("workflow", &case.id))?;
        let form = cx.form;
        let specialty_code =
            text(form, "/specialty/code").ok_or_else(|| corrupt("specialty", &case.id))?;
        let specialty_name =
            text(form, "/specialty/name").ok_or_else(|| corrupt("specialty", &case.id))?;
        let snils = text(form, "/applicant/snils")
            .and_then(|s| Snils::parse(&s).ok())
            .ok_or_else(|| corrupt("SNILS", &case.id))?;
        let holder_name = case
            .applicant_name
            .clone()
            .or_else(|| super::file_case::full_name(form))
            .ok_or_else(|| corrupt("name", &case.id))?;
        let decision_date = moscow(cx.now).date();
        let year = decision_date.year();
        // Records count apart from applications: their own counter row per year.
        let series = format!("A-{}", cx.signing.region);
        let seq = counters::next_in_sequence(conn, year, &series).map_err(StoreError::from)?;
        let commission = crate::store::subcommissions::name_for_specialty(conn, &specialty_code)
            .map_err(StoreError::from)?
            .unwrap_or_else(|| "Аккредитационная подкомиссия".to_owned());
        let record = Record {
            number: accreditation::record_number(year, &cx.signing.region, seq),
            kind,
            specialty_code,
            specialty_name,
            holder_name,
            snils,
            application_number: cx
                .patch
                .number
                .clone()
                .or_else(|| case.number.clone())
                .unwrap_or_else(|| case.id.clone()),
            case_id: case.id.clone(),
            decided_at: cx.now,
            decision_date,
            valid_until: accreditation::valid_until(decision_date, VALID_YEARS),
            commission,
        };
        let pdf = accreditation::pdf(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let xml = accreditation::xml(&record);
        diesel::insert_into(ar::table)
            .values((
                ar::case_id.eq(&case.id),
                ar::number.eq(&record.number),
                ar::holder_id.eq(&case.owner_id),
                ar::kind.eq(kind.code()),
                ar::specialty_code.eq(&record.specialty_code),
                ar::specialty_name.eq(&record.specialty_name),
                ar::decided_at.eq(cx.now.naive_utc()),
                ar::decision_date.eq(record.decision_date),
                ar::valid_until.eq(record.valid_until),
                ar::pdf.eq(&pdf),
                ar::xml.eq(&xml),
            ))
            .execute(conn)
            .map_err(StoreError::from)?;
        cx.payload["accreditation_record"] = json!({
            "number": record.number,
            "valid_until": record.valid_until,
            "pdf_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf)),
            "xml_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&xml)),
        });
        cx.record = Some(record);
        Ok(())
    }
}
