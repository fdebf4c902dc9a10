//! Where a notification goes: for each recipient, the active channels they have not turned
//! off, each with its address. The cabinet's list (`inapp`) is always on. E-mail and SMS are on
//! by default and go to the address the person gave in their preferences or, for the
//! applicant, to the one in the application's form; push is off until the person turns it on
//! (the gateway knows the account's devices by its id).

use crate::store::DbConnection;
use crate::store::notifications::{Preference, preferences};
use diesel::QueryResult;
use serde_json::Value;

/// One recipient on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The user.
    pub recipient: String,
    /// The channel.
    pub channel: &'static str,
    /// The e-mail address, phone number or push account (none for `inapp`).
    pub address: Option<String>,
}

/// Whether a channel is on when the person has said nothing.
pub fn on_by_default(channel: &str) -> bool {
    channel != "push"
}

/// The address in an application form for `channel` (`/applicant/email`, `/applicant/phone`).
pub fn form_address(channel: &str, form: &Value) -> Option<String> {
    let pointer = match channel {
        "email" => "/applicant/email",
        "sms" => "/applicant/phone",
        _ => return None,
    };
    let raw = form
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())?;
    if channel == "sms" {
        crate::domain::phone::normalize_ru_phone(raw)
    } else {
        Some(raw.to_owned())
    }
}

/// The form of the person's most recently changed application (`null` if none): where their
/// contacts come from when they set none.
pub fn latest_form(conn: &mut DbConnection, user: &str) -> QueryResult<Value> {
    use crate::store::schema::cases;
    use diesel::prelude::*;
    let form: Option<String> = cases::table
        .filter(cases::owner_id.eq(user))
        .order((cases::updated_at.desc(), cases::id.desc()))
        .select(cases::form_data)
        .first(conn)
        .optional()?;
    Ok(form
        .and_then(|f| serde_json::from_str(&f).ok())
        .unwrap_or_default())
}

/// The routes of `recipients` on the `active` channels; `owner` is the case's applicant and
/// the form they filled in, whose contacts stand in for addresses they did not set.
pub fn routes(
    conn: &mut DbConnection,
    active: &[&'static str],
    recipients: &[String],
    owner: Option<(&str, &Value)>,
) -> QueryResult<Vec<Route>> {
    let prefs = if active.iter().any(|c| *c != "inapp") {
        preferences(conn, recipients)?
    } else {
        Vec::new()
    };
    Ok(resolve(active, recipients, owner, &prefs))
}

/// [`routes`] over preferences already read.
pub fn resolve(
    active: &[&'static str],
    recipients: &[String],
    owner: Option<(&str, &Value)>,
    prefs: &[Preference],
) -> Vec<Route> {
    let mut out = Vec::new();
    for recipient in recipients {
        for &channel in active {
            if channel == "inapp" {
                out.push(Route {
                    recipient: recipient.clone(),
                    channel,
                    address: None,
                });
                continue;
            }
            let pref = prefs
                .iter()
                .find(|p| &p.user_id == recipient && p.channel == channel);
            if !pref.map_or(on_by_default(channel), |p| p.enabled) {
                continue;
            }
            let address = pref
                .and_then(|p| p.address.clone())
                .or_else(|| match owner {
                    _ if channel == "push" => Some(recipient.clone()),
                    Some((id, form)) if id == recipient => form_address(channel, form),
                    _ => None,
                });
            if let Some(address) = address {
                out.push(Route {
                    recipient: recipient.clone(),
                    channel,
                    address: Some(address),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pref(user: &str, channel: &str, enabled: bool, address: Option<&str>) -> Preference {
        Preference {
            user_id: user.into(),
            channel: channel.into(),
            enabled,
            address: address.map(Into::into),
            updated_at: chrono::NaiveDateTime::default(),
        }
    }

    #[test]
    fn defaults_form_contacts_and_choices() {
        let all = ["inapp", "email", "sms", "push"];
        let form =
            json!({"applicant": {"email": "ivanov@example.ru", "phone": "+7 (916) 123-45-67"}});
        let who = ["owner".to_owned(), "secretary".to_owned()];
        let prefs = [
            pref("owner", "sms", false, None),
            pref("secretary", "email", true, Some("sec@example.ru")),
            pref("secretary", "push", true, None),
            pref("owner", "push", true, None),
        ];
        let got: Vec<(String, &str, Option<String>)> =
            resolve(&all, &who, Some(("owner", &form)), &prefs)
                .into_iter()
                .map(|r| (r.recipient, r.channel, r.address))
                .collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            got,
            [
                ("owner".into(), "inapp", None),
                ("owner".into(), "email", s("ivanov@example.ru")),
                ("owner".into(), "push", s("owner")),
                ("secretary".into(), "inapp", None),
                ("secretary".into(), "email", s("sec@example.ru")),
                ("secretary".into(), "push", s("secretary")),
            ]
        );
        // Only the channels that have a dispatcher.
        let inapp_only = resolve(&["inapp"], &who, Some(("owner", &form)), &prefs);
        assert_eq!(inapp_only.len(), 2);
    }
}
