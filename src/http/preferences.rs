//! The person's notification preferences («Уведомления о статусе» per channel): which of the
//! channels this server delivers they want, and where to (an e-mail address, a phone number).
//! The cabinet's list is always on. An address left unset is taken from the person's latest
//! application form.

use super::AppState;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use crate::notify::routes::{form_address, on_by_default};
use crate::notify::templates::CHANNELS;
use crate::store::notifications::{Preference, preferences, set_preferences};
use crate::store::{DbConnection, StoreError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, put, web};
use serde::{Deserialize, Serialize};
use validator::ValidateEmail;

/// One channel as the person sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelPreference {
    /// `inapp`, `email`, `sms` or `push`.
    pub channel: &'static str,
    /// Whether notifications go there.
    pub enabled: bool,
    /// Whether this server delivers the channel at all.
    pub available: bool,
    /// The cabinet's list cannot be turned off.
    pub always_on: bool,
    /// Where they go: the address set here, else the one in the latest application.
    pub address: Option<String>,
    /// `preferences`, `application`, or none.
    pub address_source: Option<&'static str>,
}

/// All channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// In the order inapp, email, sms, push.
    pub channels: Vec<ChannelPreference>,
}

/// A change of one channel.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    /// On or off.
    pub enabled: bool,
    /// The e-mail address or phone number (`+7…`); absent or null: from the application.
    #[serde(default)]
    pub address: Option<String>,
}

/// The channels to change; those left out stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesChange {
    pub inapp: Option<ChannelChange>,
    pub email: Option<ChannelChange>,
    pub sms: Option<ChannelChange>,
    pub push: Option<ChannelChange>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn label(channel: &str) -> &'static str {
    match channel {
        "email" => "электронная почта",
        "sms" => "SMS",
        "push" => "push-уведомления",
        _ => "личный кабинет",
    }
}

fn read(
    conn: &mut DbConnection,
    user: &str,
    active: &[&'static str],
) -> Result<Preferences, StoreError> {
    let stored = preferences(conn, &[user.to_owned()])?;
    let form = crate::notify::routes::latest_form(conn, user)?;
    let channels = CHANNELS
        .iter()
        .map(|&channel| {
            let pref = stored.iter().find(|p| p.channel == channel);
            let inapp = channel == "inapp";
            let (address, address_source) = match pref.and_then(|p| p.address.clone()) {
                Some(a) => (Some(a), Some("preferences")),
                None => match form_address(channel, &form) {
                    Some(a) => (Some(a), Some("application")),
                    None => (None, None),
                },
            };
            ChannelPreference {
                channel,
                enabled: inapp || pref.map_or(on_by_default(channel), |p| p.enabled),
                available: active.contains(&channel),
                always_on: inapp,
                address: if inapp { None } else { address },
                address_source: if inapp { None } else { address_source },
            }
        })
        .collect();
    Ok(Preferences { channels })
}

/// The caller's notification preferences.
#[utoipa::path(
    tag = "me",
    responses(
        (status = 200, description = "Every channel", body = Preferences),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/me/notification-preferences")]
pub async fn get_preferences(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    let notices = state.notices.clone();
    let prefs = state
        .with_session(&who, move |conn, auth, _| {
            read(conn, auth.user.as_str(), notices.active()).map_err(ApiError::from)
        })
        .await?;
    Ok(HttpResponse::Ok().json(prefs))
}

/// Changes the caller's notification preferences.
#[utoipa::path(
    tag = "me",
    request_body = PreferencesChange,
    responses(
        (status = 200, description = "Every channel, changed", body = Preferences),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "`inapp_always_on`, `channel_unavailable`, \
            `email_invalid`, `phone_invalid`, `address_required` or `address_not_allowed`", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[put("/api/v1/me/notification-preferences")]
pub async fn put_preferences(
    state: web::Data<AppState>,
    who: Principal,
    body: JsonBody<PreferencesChange>,
) -> Result<HttpResponse, ApiError> {
    let change = body.0;
    if change.inapp.as_ref().is_some_and(|c| !c.enabled) {
        return Err(invalid(
            "inapp_always_on",
            "Уведомления в личном кабинете отключить нельзя",
        ));
    }
    let active = state.notices.active().to_vec();
    let mut wanted = Vec::new();
    for (channel, c) in [
        ("email", change.email),
        ("sms", change.sms),
        ("push", change.push),
    ] {
        let Some(c) = c else { continue };
        if c.enabled && !active.contains(&channel) {
            return Err(invalid(
                "channel_unavailable",
                format!("Канал «{}» на этом сервере не подключён", label(channel)),
            ));
        }
        let address = match (channel, c.address.as_deref().map(str::trim)) {
            (_, None | Some("")) => None,
            ("email", Some(a)) if a.len() <= 254 && a.validate_email() => Some(a.to_owned()),
            ("email", Some(_)) => {
                return Err(invalid("email_invalid", "Неверный адрес электронной почты"));
            }
            ("sms", Some(p)) => match crate::domain::phone::normalize_ru_phone(p) {
                Some(p) => Some(p),
                None => {
                    return Err(invalid(
                        "phone_invalid",
                        "Неверный номер телефона: нужен российский мобильный, +7XXXXXXXXXX",
                    ));
                }
            },
            (_, Some(_)) => {
                return Err(invalid(
                    "address_not_allowed",
                    "Для push-уведомлений адрес не указывается",
                ));
            }
        };
        wanted.push((channel, c.enabled, address));
    }
    let prefs = state
        .with_session(&who, move |conn, auth, now| {
            let rows: Vec<Preference> = wanted
                .into_iter()
                .map(|(channel, enabled, address)| Preference {
                    user_id: auth.user.to_string(),
                    channel: channel.into(),
                    enabled,
                    address,
                    updated_at: now.naive_utc(),
                })
                .collect();
            crate::store::write_tx(conn, |conn| {
                set_preferences(conn, &rows).map_err(StoreError::from)?;
                let now = read(conn, auth.user.as_str(), &active)?;
                // A channel turned on with nowhere to send to would stay silent: refused (and
                // the change rolled back).
                if let Some(c) = now.channels.iter().find(|c| {
                    c.enabled
                        && c.channel != "push"
                        && c.address.is_none()
                        && rows.iter().any(|r| r.channel == c.channel)
                }) {
                    return Err(invalid(
                        "address_required",
                        format!(
                            "Укажите адрес для канала «{}»: в заявлении его нет",
                            label(c.channel)
                        ),
                    ));
                }
                Ok::<_, ApiError>(now)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(prefs))
}
