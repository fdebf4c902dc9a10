//! The OpenID Connect relying party (openidconnect crate): authorization code flow with PKCE
//! S256, state and nonce kept server-side, ID token verification against the provider's keys
//! with the algorithms allowed by configuration. ESIA specifics (person id claim, confirmed
//! account flag, persons endpoint) are configuration, not code forks.

use crate::domain::clock::SharedClock;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthType, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Non-standard claims, kept as they come so that a provider's types never break parsing.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    /// Every claim that is not a standard OpenID one.
    #[serde(flatten)]
    pub claims: BTreeMap<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

/// Provider metadata we read beyond the standard: the end-session endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RP-initiated logout endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<EndSessionUrl>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type Fields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResp = StandardTokenResponse<Fields, CoreTokenType>;
type Client = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResp,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
>;

/// How the client authenticates at the token endpoint. Real ESIA's GOST-signed client secret
/// would be a third variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuth {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
}

/// Relying-party configuration.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Provider issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Token endpoint authentication.
    pub client_auth: ClientAuth,
    /// Our callback URL (`{public}/auth/callback`).
    pub redirect_url: String,
    /// Accepted ID token signature algorithms (e.g. `RS256`, `ES256`).
    pub allowed_algs: Vec<String>,
    /// Claim holding the person id: `sub` or, for ESIA, `urn:esia:sbj_id`.
    pub subject_claim: String,
    /// Claims that may carry the confirmed-account flag, first present wins.
    pub trusted_claims: Vec<String>,
    /// ESIA-style persons endpoint base (`{base}/rs/prns/{oid}`), used when the ID token lacks
    /// the person's data.
    pub persons_base: Option<String>,
}

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

/// What a login needs to keep until the callback.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The `state` parameter.
    pub state: String,
    /// The nonce expected in the ID token.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

/// Why a login failed; each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The provider could not be reached or answered garbage.
    #[error("identity provider failed: {0}")]
    Provider(String),
    /// The provider answered something that is not a token response.
    #[error("identity provider answered garbage: {0}")]
    BadResponse(String),
    /// The provider refused the code (reused, expired, wrong verifier).
    #[error("code refused: {0}")]
    CodeRefused(String),
    /// The ID token did not verify.
    #[error("invalid id token: {0}")]
    InvalidIdToken(String),
    /// The token lacks the person id.
    #[error("no person id in the token")]
    NoSubject,
}

/// The configured relying party.
#[derive(Debug, Clone)]
pub struct Oidc {
    client: Client,
    http: reqwest::Client,
    config: OidcConfig,
    end_session: Option<EndSessionUrl>,
    algs: Vec<CoreJwsSigningAlgorithm>,
    clock: SharedClock,
}

fn alg(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    serde_json::from_value(Value::String(name.to_owned())).ok()
}

impl Oidc {
    /// Discovers the provider and builds the client; ID tokens are judged on `clock`.
    pub async fn discover(config: OidcConfig, clock: SharedClock) -> Result<Self, LoginError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| LoginError::Provider(e.to_string()))?;
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| LoginError::Provider(e.to_string()))?;
        let metadata = Metadata::discover_async(issuer, &http)
            .await
            .map_err(|e| LoginError::Provider(format!("discovery: {e}")))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| LoginError::Provider("provider has no token endpoint".into()))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| LoginError::Provider(e.to_string()))?;
        let client = openidconnect::Client::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.clone())),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(match config.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post => AuthType::RequestBody,
        })
        .set_token_uri(token_url);
        let algs: Vec<CoreJwsSigningAlgorithm> =
            config.allowed_algs.iter().filter_map(|a| alg(a)).collect();
        if algs.is_empty() {
            return Err(LoginError::Provider(
                "no usable ID token algorithm configured".into(),
            ));
        }
        Ok(Self {
            client,
            http,
            config,
            end_session,
            algs,
            clock,
        })
    }

    /// The provider's authorize URL for a new login, and what to keep until the callback.
    pub fn begin(&self) -> (url::Url, Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        (url, pending)
    }

    /// Exchanges the code, verifies the ID token (signature with allowed algorithms, issuer,
    /// audience, expiry, nonce) and returns the person.
    pub async fn finish(&self, code: &str, pending: &Pending) -> Result<Identity, LoginError> {
        use openidconnect::RequestTokenError;
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    LoginError::CodeRefused(r.error().to_string())
                }
                RequestTokenError::Parse(err, _) => {
                    LoginError::BadResponse(format!("token response does not parse: {err}"))
                }
                other => LoginError::Provider(other.to_string()),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::InvalidIdToken("no id_token in the response".into()))?;
        let clock = self.clock.clone();
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(self.algs.clone())
            .set_time_fn(move || clock.now());
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| LoginError::InvalidIdToken(e.to_string()))?;
        let extra = &claims.additional_claims().claims;
        let text = |k: &str| {
            extra.get(k).and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
        };
        let subject = if self.config.subject_claim == "sub" {
            Some(claims.subject().as_str().to_owned())
        } else {
            text(&self.config.subject_claim)
        }
        .filter(|s| !s.is_empty())
        .ok_or(LoginError::NoSubject)?;
        let trusted = self
            .config
            .trusted_claims
            .iter()
            .find_map(|k| match extra.get(k) {
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => Some(s == "true"),
                _ => None,
            });
        let localized = |c: Option<
            &openidconnect::LocalizedClaim<openidconnect::EndUserFamilyName>,
        >| { c.and_then(|c| c.get(None)).map(|v| v.as_str().to_owned()) };
        let mut identity = Identity {
            subject,
            trusted: trusted.unwrap_or(false),
            last_name: localized(claims.family_name()),
            first_name: claims
                .given_name()
                .and_then(|c| c.get(None))
                .map(|v| v.as_str().to_owned()),
            middle_name: claims
                .middle_name()
                .and_then(|c| c.get(None))
                .map(|v| v.as_str().to_owned()),
            birth_date: claims.birthdate().map(|b| b.as_str().to_owned()),
            snils: text("snils"),
        };
        let incomplete =
            identity.last_name.is_none() || identity.snils.is_none() || trusted.is_none();
        if incomplete && let Some(base) = &self.config.persons_base {
            self.fill_from_persons(
                base,
                response.access_token().secret(),
                &mut identity,
                trusted.is_none(),
            )
            .await?;
        }
        Ok(identity)
    }

    /// Reads `GET {base}/rs/prns/{oid}` (ESIA persons endpoint) for what the token lacked.
    async fn fill_from_persons(
        &self,
        base: &str,
        access_token: &str,
        identity: &mut Identity,
        take_trusted: bool,
    ) -> Result<(), LoginError> {
        let url = format!(
            "{}/rs/prns/{}",
            base.trim_end_matches('/'),
            identity.subject
        );
        let res = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| LoginError::Provider(format!("persons endpoint: {e}")))?;
        if !res.status().is_success() {
            return Err(LoginError::Provider(format!(
                "persons endpoint answered {}",
                res.status()
            )));
        }
        let p: Value = res
            .json()
            .await
            .map_err(|e| LoginError::Provider(format!("persons endpoint: {e}")))?;
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        identity.last_name = identity.last_name.take().or_else(|| s("lastName"));
        identity.first_name = identity.first_name.take().or_else(|| s("firstName"));
        identity.middle_name = identity.middle_name.take().or_else(|| s("middleName"));
        identity.snils = identity.snils.take().or_else(|| s("snils"));
        if identity.birth_date.is_none() {
            identity.birth_date = s("birthDate")
                .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%d.%m.%Y").ok())
                .map(|d| d.format("%Y-%m-%d").to_string());
        }
        if take_trusted {
            identity.trusted = p.get("trusted").and_then(Value::as_bool).unwrap_or(false);
        }
        Ok(())
    }

    /// Where to send the browser to end the provider's session too, if it supports that.
    pub fn end_session_url(&self, post_logout_redirect: Option<&str>) -> Option<url::Url> {
        let mut url = self.end_session.as_ref()?.url().clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id);
        if let Some(r) = post_logout_redirect {
            url.query_pairs_mut()
                .append_pair("post_logout_redirect_uri", r);
        }
        Some(url)
    }
}
