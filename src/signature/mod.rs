//! Electronic signatures over the application: what is signed (the signing payload), and the
//! verification of a detached CMS (PKCS#7) signature against the configured trust store.
//!
//! Verification is keyed by signature algorithm: [`AlgorithmVerifier`] implementations are
//! registered in [`Verifiers`]. RSA (≥ 2048 bits) with SHA-256 and ECDSA P-256 with SHA-256
//! come built in; a GOST R 34.10-2012 signature is refused as unsupported unless a verifier
//! for it is registered (see the README).

pub mod cms;
pub mod demo;
pub mod payload;

use const_oid::ObjectIdentifier;
use spki::SubjectPublicKeyInfoOwned;

/// Why a signature was not accepted: a stable code and a Russian message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SignatureError {
    /// Stable code.
    pub code: &'static str,
    /// Russian message.
    pub message: String,
}

impl SignatureError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The file is not a CMS signature we can read.
    pub fn malformed(detail: impl std::fmt::Display) -> Self {
        Self::new(
            "signature_malformed",
            format!(
                "Файл подписи не распознан ({detail}): нужна откреплённая подпись CMS (PKCS#7) \
                 в формате DER, PEM или base64"
            ),
        )
    }

    /// No verifier for this algorithm in this installation.
    pub fn unsupported(algorithm: &str) -> Self {
        Self::new(
            "signature_algorithm_unsupported",
            format!(
                "Алгоритм подписи {algorithm} не поддерживается этой установкой. Принимаются \
                 подписи RSA (ключ не короче 2048 бит) с SHA-256 и ECDSA P-256 с SHA-256"
            ),
        )
    }

    /// The signature does not verify with the signer's key.
    pub fn invalid() -> Self {
        Self::new(
            "signature_invalid",
            "Подпись неверна: она не соответствует сертификату подписанта",
        )
    }
}

/// Signing as configured for this installation.
#[derive(Debug, Default)]
pub struct Signing {
    /// Verification (trust store and algorithms).
    pub checker: cms::Checker,
    /// Region code in receipt numbers (`2026-77-000123`).
    pub region: String,
    /// Intake hours: a submission outside them is registered at the next opening.
    pub intake: crate::domain::calendar::Hours,
}

impl Signing {
    /// Verification against `trust`, receipts numbered for `region`, the default intake hours
    /// (09:00-18:00 Moscow time).
    pub fn new(trust: cms::TrustStore, region: impl Into<String>) -> Self {
        Self {
            checker: cms::Checker {
                trust,
                verifiers: Verifiers::default(),
            },
            region: region.into(),
            intake: crate::domain::calendar::Hours::default(),
        }
    }
}

/// One family of signature algorithms.
pub trait AlgorithmVerifier: Send + Sync + std::fmt::Debug {
    /// Name shown to people and stored with the signature, e.g. `RSA-2048/SHA-256`.
    fn describe(&self, key: &SubjectPublicKeyInfoOwned) -> String;
    /// Whether this verifier handles keys of this algorithm (the SPKI's OID).
    fn handles(&self, key_algorithm: &ObjectIdentifier) -> bool;
    /// The digest `digest_algorithm` of `data`, or `None` if this verifier does not support it.
    fn digest(&self, digest_algorithm: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>>;
    /// Verifies `signature` over `message` with `key`, for the signature algorithm named.
    fn verify(
        &self,
        key: &SubjectPublicKeyInfoOwned,
        signature_algorithm: &ObjectIdentifier,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError>;
}

/// The registered algorithm verifiers.
#[derive(Debug)]
pub struct Verifiers {
    list: Vec<Box<dyn AlgorithmVerifier>>,
}

impl Default for Verifiers {
    /// RSA/SHA-256 and ECDSA P-256/SHA-256.
    fn default() -> Self {
        Self {
            list: vec![Box::new(cms::RsaSha256), Box::new(cms::EcdsaP256)],
        }
    }
}

impl Verifiers {
    /// Adds a verifier (for example one for GOST R 34.10-2012); it takes precedence.
    pub fn register(&mut self, verifier: Box<dyn AlgorithmVerifier>) {
        self.list.insert(0, verifier);
    }

    /// The verifier for keys of this algorithm.
    pub fn for_key(
        &self,
        key_algorithm: &ObjectIdentifier,
    ) -> Result<&dyn AlgorithmVerifier, SignatureError> {
        self.list
            .iter()
            .find(|v| v.handles(key_algorithm))
            .map(AsRef::as_ref)
            .ok_or_else(|| SignatureError::unsupported(&algorithm_name(key_algorithm)))
    }
}

/// GOST R 34.10/34.11 object identifiers (2012 and the legacy 2001 family).
pub fn is_gost(oid: &ObjectIdentifier) -> bool {
    let b = oid.as_bytes();
    b.starts_with(&[0x2A, 0x85, 0x03, 0x07, 0x01]) || b.starts_with(&[0x2A, 0x85, 0x03, 0x02, 0x02])
}

/// A name for an algorithm OID people recognise.
pub fn algorithm_name(oid: &ObjectIdentifier) -> String {
    if is_gost(oid) {
        "ГОСТ Р 34.10-2012".into()
    } else {
        const_oid::db::DB
            .by_oid(oid)
            .map_or_else(|| oid.to_string(), str::to_owned)
    }
}
