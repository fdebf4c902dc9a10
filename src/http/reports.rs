//! The commission's reports over HTTP: the queue and the decisions as CSV or XLSX, and the
//! stage analytics. A table is written to a temporary file on the blocking pool (the XLSX in
//! rust_xlsxwriter's constant-memory mode), unlinked at once, and streamed from it in chunks:
//! memory stays flat however many rows, and nothing is left on disk.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::review::QueueParams;
use crate::reports::table::{AnySink, Column, CsvSink, TableSink, XlsxSink};
use crate::service::ServiceError;
use crate::service::reports::{self, DECISION_COLUMNS, QUEUE_COLUMNS, StageDto};
use crate::service::review::QueueQuery;
use crate::store::{DbConnection, StoreError};
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use std::path::PathBuf;

/// CSV or XLSX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

fn format_of(ext: &str) -> Result<Format, ApiError> {
    match ext {
        "csv" => Ok(Format::Csv),
        "xlsx" => Ok(Format::Xlsx),
        _ => Err(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "Отчёт выгружается в форматах .csv и .xlsx",
        )),
    }
}

fn scratch(now: chrono::DateTime<chrono::Utc>, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "accredo-report-{}.{ext}",
        crate::domain::ids::uuid_v7(now)
    ))
}

fn failed(e: impl std::fmt::Display) -> ServiceError {
    StoreError::Corrupt(format!("report: {e}")).into()
}

/// Writes the table `fill` produces to a new file and opens it for reading, unlinked.
fn write_table(
    conn: &mut DbConnection,
    format: Format,
    columns: &[Column],
    sheet: &str,
    now: chrono::DateTime<chrono::Utc>,
    fill: impl FnOnce(&mut DbConnection, &mut AnySink) -> Result<(), ServiceError>,
) -> Result<std::fs::File, ServiceError> {
    let path = scratch(now, if format == Format::Csv { "csv" } else { "xlsx" });
    let result = (|| {
        let mut sink = match format {
            Format::Csv => {
                let file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(failed)?);
                AnySink::Csv(Box::new(CsvSink::new(file, columns).map_err(failed)?))
            }
            Format::Xlsx => AnySink::Xlsx(Box::new(
                XlsxSink::create(&path, sheet, columns).map_err(failed)?,
            )),
        };
        fill(conn, &mut sink)?;
        sink.finish().map_err(failed)?;
        std::fs::File::open(&path).map_err(failed)
    })();
    // Open or not, the name goes: the open handle keeps the content until it is streamed.
    let _ = std::fs::remove_file(&path);
    result
}

fn stream_file(file: std::fs::File, format: Format, name: &str) -> HttpResponse {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::from_std(file);
    let body = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0_u8; 64 << 10];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(actix_web::web::Bytes::from(buf)),
                    Some(file),
                ))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(super::documents::attachment(format!("{name}.{ext}")))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .streaming(body)
}

/// The queue (with its filters, every page) as a table.
#[utoipa::path(
    tag = "reports",
    params(("format" = String, Path, description = "`csv` or `xlsx`"), QueueParams),
    responses(
        (status = 200, description = "The table, streamed"),
        (status = 403, description = "Not a commission member", body = ErrorBody),
        (status = 422, description = "Bad filter", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/reports/cases.{format}")]
pub async fn cases_table(
    state: web::Data<AppState>,
    who: Principal,
    format: web::Path<String>,
    params: web::Query<QueueParams>,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&format)?;
    let q: QueueQuery = params.into_inner().into();
    let file = state
        .use_case(
            &who,
            Action::Reports,
            None,
            move |conn, catalog, actor, now| {
                write_table(
                    conn,
                    format,
                    QUEUE_COLUMNS,
                    "Заявления",
                    now,
                    |conn, sink| {
                        reports::export_queue(conn, catalog, actor, &q, sink, now).map(drop)
                    },
                )
            },
        )
        .await?;
    Ok(stream_file(file, format, "zayavleniya"))
}

/// Query of the decisions report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DecisionsParams {
    /// First day (YYYY-MM-DD, Moscow).
    pub from: chrono::NaiveDate,
    /// Last day, inclusive.
    pub to: chrono::NaiveDate,
}

/// The decisions made on a range of days, as a table.
#[utoipa::path(
    tag = "reports",
    params(("format" = String, Path, description = "`csv` or `xlsx`"), DecisionsParams),
    responses(
        (status = 200, description = "The table, streamed"),
        (status = 403, description = "Not a commission member", body = ErrorBody),
        (status = 422, description = "`from` after `to`", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/reports/decisions.{format}")]
pub async fn decisions_table(
    state: web::Data<AppState>,
    who: Principal,
    format: web::Path<String>,
    params: web::Query<DecisionsParams>,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&format)?;
    let DecisionsParams { from, to } = params.into_inner();
    if from > to {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
            "Начало периода позже его конца",
        ));
    }
    let file = state
        .use_case(&who, Action::Reports, None, move |conn, _, actor, now| {
            write_table(
                conn,
                format,
                DECISION_COLUMNS,
                "Решения",
                now,
                |conn, sink| reports::export_decisions(conn, actor, from, to, sink).map(drop),
            )
        })
        .await?;
    Ok(stream_file(file, format, "resheniya"))
}

/// Query of the stage analytics.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StagesParams {
    /// Only this workflow.
    pub workflow: Option<String>,
}

/// Each workflow step: median and 90th percentile working days against its norm, and the
/// share that breached it.
#[utoipa::path(
    tag = "reports",
    params(StagesParams),
    responses(
        (status = 200, description = "By workflow, then state", body = [StageDto]),
        (status = 403, description = "Not a commission member", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/reports/stages")]
pub async fn stages(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<StagesParams>,
) -> Result<HttpResponse, ApiError> {
    let workflow = params.into_inner().workflow;
    let list = state
        .use_case(
            &who,
            Action::Reports,
            None,
            move |conn, catalog, actor, _| {
                reports::stages(conn, catalog, actor, workflow.as_deref())
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
