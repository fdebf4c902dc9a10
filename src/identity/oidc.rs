//! The OpenID Connect relying party (openidconnect crate): authorization code flow with PKCE
//! S256, state and nonce kept server-side, ID token verification against the provider's keys
//! with the algorithms allowed by configuration. ESIA specifics (person id claim, confirmed
//! account flag, persons endpoint) are configuration, not code forks.

use super::claims::{Found, Names, Standard};
use super::keys::ProviderKeys;
use crate::domain::clock::SharedClock;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthType, AuthorizationCode,
    ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IdTokenVerifier,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
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

/// Provider metadata we read beyond the standard: the end-session endpoint and whether the
/// provider names itself in the authorization response (RFC 9207).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RP-initiated logout endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<EndSessionUrl>,
    /// The provider sends `iss` with the code (mix-up defence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
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
    /// ESIA-style persons endpoint base (`{base}/rs/prns/{oid}`), used when neither the ID
    /// token nor the userinfo endpoint gave the person's data.
    pub persons_base: Option<String>,
    /// Scopes asked for (`openid` is always asked); providers release claims by scope.
    pub scopes: Vec<String>,
}

/// The scopes asked for when none are configured.
pub const DEFAULT_SCOPES: &str = "openid profile";

/// Scopes from configuration: separated by spaces or commas, `openid` first and once.
pub fn parse_scopes(raw: &str) -> Vec<String> {
    let mut scopes = vec!["openid".to_owned()];
    for s in raw
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_owned());
        }
    }
    scopes
}

pub use crate::domain::person::Identity;

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
    /// The provider refused our client credentials: an operator's fault, not the person's.
    #[error("the identity provider refused the client: {0}")]
    ClientRefused(String),
    /// The ID token did not verify.
    #[error("invalid id token: {0}")]
    InvalidIdToken(String),
    /// The token lacks the person id.
    #[error("no person id in the token")]
    NoSubject,
}

/// The configured relying party.
#[derive(Debug)]
pub struct Oidc {
    client: Client,
    http: reqwest::Client,
    config: OidcConfig,
    end_session: Option<EndSessionUrl>,
    iss_in_response: bool,
    issuer: IssuerUrl,
    algs: Vec<CoreJwsSigningAlgorithm>,
    keys: ProviderKeys,
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
        let metadata = Metadata::discover_async(issuer.clone(), &http)
            .await
            .map_err(|e| LoginError::Provider(format!("discovery: {e}")))?;
        let extra = metadata.additional_metadata();
        let end_session = extra.end_session_endpoint.clone();
        let iss_in_response = extra
            .authorization_response_iss_parameter_supported
            .unwrap_or(false);
        let keys = ProviderKeys::new(
            metadata.jwks_uri().clone(),
            metadata.jwks().clone(),
            clock.clone(),
        );
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
            iss_in_response,
            issuer,
            algs,
            keys,
            clock,
        })
    }

    /// The provider's issuer, as configured and discovered.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Whether the provider promises `iss` in the authorization response (RFC 9207), so a
    /// callback without it, or with another, is refused.
    pub fn expects_iss(&self) -> bool {
        self.iss_in_response
    }

    /// The provider's authorize URL for a new login, and what to keep until the callback.
    pub fn begin(&self) -> (url::Url, Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = self
            .config
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
            .map(|s| Scope::new(s.clone()));
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        (url, pending)
    }

    fn verifier(&self) -> IdTokenVerifier<'_, CoreJsonWebKey> {
        let clock = self.clock.clone();
        IdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.clone()),
            self.issuer.clone(),
            self.keys.current(),
        )
        .set_allowed_algs(self.algs.clone())
        .set_time_fn(move || clock.now())
    }

    /// Exchanges the code, verifies the ID token (signature with allowed algorithms, issuer,
    /// audience, expiry, nonce), and gathers the person's claims: from the ID token, then the
    /// userinfo endpoint, then the ESIA-style persons endpoint, each only for what is missing.
    pub async fn finish(&self, code: &str, pending: &Pending) -> Result<Identity, LoginError> {
        use openidconnect::RequestTokenError;
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => match r.error() {
                    CoreErrorResponseType::InvalidClient
                    | CoreErrorResponseType::UnauthorizedClient => {
                        LoginError::ClientRefused(r.error().to_string())
                    }
                    other => LoginError::CodeRefused(other.to_string()),
                },
                RequestTokenError::Parse(err, _) => {
                    LoginError::BadResponse(format!("token response does not parse: {err}"))
                }
                other => LoginError::Provider(other.to_string()),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::InvalidIdToken("no id_token in the response".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&self.verifier(), &nonce) {
            Ok(claims) => claims,
            Err(ClaimsVerificationError::SignatureVerification(e))
                if self.keys.worth_refreshing(&e) =>
            {
                self.keys
                    .refresh(&self.http)
                    .await
                    .map_err(LoginError::Provider)?;
                id_token
                    .claims(&self.verifier(), &nonce)
                    .map_err(|e| LoginError::InvalidIdToken(e.to_string()))?
            }
            Err(e) => return Err(LoginError::InvalidIdToken(e.to_string())),
        };
        let names = Names {
            subject_claim: &self.config.subject_claim,
            trusted_claims: &self.config.trusted_claims,
        };
        let mut found = Found::from_claims(
            names,
            Standard {
                sub: claims.subject().as_str(),
                family_name: claims.family_name(),
                given_name: claims.given_name(),
                middle_name: claims.middle_name(),
                birthdate: claims.birthdate(),
            },
            &claims.additional_claims().claims,
        );
        let access = response.access_token();
        if found.incomplete() && self.client.user_info_url().is_some() {
            let more = self.read_userinfo(access, claims.subject(), names).await;
            found = Self::take_more(found, more)?;
        }
        if found.incomplete()
            && let (Some(base), Some(oid)) = (&self.config.persons_base, found.subject.clone())
        {
            let more = self.read_persons(base, access.secret(), &oid).await;
            found = Self::take_more(found, more)?;
        }
        found.into_identity().ok_or(LoginError::NoSubject)
    }

    /// Adds what a further source said. A source that failed stops the login only when the
    /// login cannot go on without it (no person id or confirmed flag yet), or when it answered
    /// about someone else; otherwise the person logs in with a poorer profile.
    fn take_more(mut found: Found, more: Result<Found, LoginError>) -> Result<Found, LoginError> {
        match more {
            Ok(more) => found.fill(more),
            Err(e @ LoginError::InvalidIdToken(_)) => return Err(e),
            Err(e) if found.lacks_essentials() => return Err(e),
            Err(e) => tracing::warn!(error = %e, "optional claims unavailable; login goes on"),
        }
        Ok(found)
    }

    /// Reads the userinfo endpoint; its `sub` must be the ID token's (the library checks).
    async fn read_userinfo(
        &self,
        access: &openidconnect::AccessToken,
        subject: &openidconnect::SubjectIdentifier,
        names: Names<'_>,
    ) -> Result<Found, LoginError> {
        let request = self
            .client
            .user_info(access.clone(), Some(subject.clone()))
            .map_err(|e| LoginError::Provider(format!("userinfo: {e}")))?;
        let info: openidconnect::UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::ClaimsVerification(e) => {
                    LoginError::InvalidIdToken(format!("userinfo: {e}"))
                }
                other => LoginError::Provider(format!("userinfo: {other}")),
            })?;
        Ok(Found::from_claims(
            names,
            Standard {
                sub: info.subject().as_str(),
                family_name: info.family_name(),
                given_name: info.given_name(),
                middle_name: info.middle_name(),
                birthdate: info.birthdate(),
            },
            &info.additional_claims().claims,
        ))
    }

    /// Reads `GET {base}/rs/prns/{oid}` (ESIA persons endpoint).
    async fn read_persons(
        &self,
        base: &str,
        access_token: &str,
        oid: &str,
    ) -> Result<Found, LoginError> {
        let url = format!("{}/rs/prns/{oid}", base.trim_end_matches('/'));
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
        Ok(Found::from_persons(&p))
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
