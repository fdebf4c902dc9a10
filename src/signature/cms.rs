//! Detached CMS (PKCS#7) SignedData: parsing, the signed attributes, the signer's certificate
//! and its chain to a configured certification authority, and the signer's SNILS.
//!
//! The RustCrypto `cms`/`x509-cert` crates parse (strict DER); the checks are ours, in the
//! order that gives a person the most useful answer: an algorithm this installation cannot
//! verify is named before anything else, then the data (was this exactly what was signed), the
//! signature, the certificate's validity and purpose, its issuer, and last whose it is.

use super::{AlgorithmVerifier, SignatureError, Verifiers, algorithm_name};
use crate::receipt::moscow_time as moscow;
use chrono::{DateTime, Utc};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc4519, rfc5911, rfc5912};
use der::{Any, Decode, Encode, Tag, Tagged};
use sha2::{Digest, Sha256};
use spki::{DecodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::attr::Attributes;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::time::Time;

/// SNILS in a qualified certificate's subject (ФСБ order No. 795).
pub const SNILS_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.100.3");

/// Largest signature file accepted (a CMS with a chain of a few certificates is ~10 KB).
pub const MAX_SIGNATURE_BYTES: usize = 256 * 1024;

/// Longest chain walked (leaf, intermediates) before giving up.
const MAX_CHAIN: usize = 6;

/// Clock skew tolerated between the signer's computer and ours.
const SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// The certification authorities whose certificates we accept.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
}

impl TrustStore {
    /// CA certificates from PEM text (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let anchors = Certificate::load_pem_chain(pem).map_err(|e| e.to_string())?;
        if anchors.is_empty() {
            return Err("no certificate found".into());
        }
        Ok(Self { anchors })
    }

    /// CA certificates from a PEM file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// How many authorities are trusted.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// A verified signature: what is stored with the case and printed on the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signer certificate (DER).
    pub certificate: Vec<u8>,
    /// SHA-256 of the certificate (hex).
    pub certificate_sha256: String,
    /// Subject common name (the person).
    pub subject: String,
    /// Issuer common name (the certification authority).
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// Algorithm, e.g. `RSA-2048/SHA-256`.
    pub algorithm: String,
    /// Signing time (from the signed attributes; the verification time when absent).
    pub signing_time: DateTime<Utc>,
    /// Certificate validity.
    pub valid_from: DateTime<Utc>,
    /// Certificate validity end.
    pub valid_to: DateTime<Utc>,
    /// SNILS in the certificate (11 digits).
    pub snils: String,
}

/// Signature verification as configured: trust store and algorithm verifiers.
#[derive(Debug, Default)]
pub struct Checker {
    /// Trusted certification authorities.
    pub trust: TrustStore,
    /// Algorithm verifiers.
    pub verifiers: Verifiers,
}

/// Accepts DER, PEM (`CMS`/`PKCS7` block) or base64 of DER.
pub fn to_der(input: &[u8]) -> Result<Vec<u8>, SignatureError> {
    if input.len() > MAX_SIGNATURE_BYTES * 2 {
        return Err(SignatureError::malformed("файл слишком большой"));
    }
    // Binary DER as it is (its last bytes may well look like whitespace).
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let t = input.trim_ascii();
    if t.is_empty() {
        return Err(SignatureError::malformed("пустой файл"));
    }
    if t.starts_with(b"-----BEGIN") {
        let (_, der) =
            der::pem::decode_vec(t).map_err(|e| SignatureError::malformed(format!("PEM: {e}")))?;
        return Ok(der);
    }
    let compact: Vec<u8> = t
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SignatureError::malformed("ни DER, ни PEM, ни base64"))
}

fn utc(t: &Time) -> DateTime<Utc> {
    let d = t.to_unix_duration();
    DateTime::from_timestamp(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn malformed(e: der::Error) -> SignatureError {
    SignatureError::malformed(e)
}

/// The string value of the first attribute `oid` of a distinguished name.
pub fn name_attr(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    let atv = name
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|a| a.oid == oid)?;
    match atv.value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::NumericString
        | Tag::Ia5String
        | Tag::TeletexString => Some(String::from_utf8_lossy(atv.value.value()).into_owned()),
        _ => None,
    }
}

fn display_name(name: &Name) -> String {
    name_attr(name, rfc4519::CN)
        .or_else(|| name_attr(name, rfc4519::O))
        .unwrap_or_else(|| name.to_string())
}

fn single_attr(attrs: &Attributes, oid: ObjectIdentifier) -> Result<Option<&Any>, SignatureError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let Some(a) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || a.values.len() != 1 {
        return Err(SignatureError::malformed("атрибут подписи повторяется"));
    }
    Ok(a.values.get(0))
}

fn find_signer<'a>(
    certs: &[&'a Certificate],
    sid: &SignerIdentifier,
) -> Result<Option<&'a Certificate>, SignatureError> {
    for c in certs {
        let hit = match sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                c.tbs_certificate.issuer == ias.issuer
                    && c.tbs_certificate.serial_number == ias.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => c
                .tbs_certificate
                .get::<SubjectKeyIdentifier>()
                .map_err(malformed)?
                .is_some_and(|(_, s)| &s == ski),
        };
        if hit {
            return Ok(Some(*c));
        }
    }
    Ok(None)
}

impl Checker {
    fn verify_issued_by(&self, cert: &Certificate, issuer: &Certificate) -> bool {
        let key = &issuer.tbs_certificate.subject_public_key_info;
        let (Ok(verifier), Some(sig), Ok(tbs)) = (
            self.verifiers.for_key(&key.algorithm.oid),
            cert.signature.as_bytes(),
            cert.tbs_certificate.to_der(),
        ) else {
            return false;
        };
        issuer.tbs_certificate.subject == cert.tbs_certificate.issuer
            && verifier
                .verify(key, &cert.signature_algorithm.oid, &tbs, sig)
                .is_ok()
    }

    /// Walks from `leaf` to a trusted authority through the certificates in the signature.
    fn chain(
        &self,
        leaf: &Certificate,
        bag: &[&Certificate],
        at: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let untrusted = || {
            SignatureError::new(
                "certificate_untrusted",
                format!(
                    "Сертификат подписи выдан удостоверяющим центром «{}», которому эта система \
                     не доверяет: подпишите сертификатом аккредитованного удостоверяющего центра",
                    display_name(&leaf.tbs_certificate.issuer)
                ),
            )
        };
        let usable_ca = |ca: &Certificate| -> bool {
            let tbs = &ca.tbs_certificate;
            let is_ca = tbs
                .get::<BasicConstraints>()
                .ok()
                .flatten()
                .is_some_and(|(_, bc)| bc.ca);
            let may_sign = tbs
                .get::<KeyUsage>()
                .ok()
                .flatten()
                .is_none_or(|(_, ku)| ku.key_cert_sign());
            is_ca
                && may_sign
                && utc(&tbs.validity.not_before) <= at
                && at <= utc(&tbs.validity.not_after)
        };
        let mut current = leaf;
        for _ in 0..MAX_CHAIN {
            if self
                .trust
                .anchors
                .iter()
                .any(|ca| self.verify_issued_by(current, ca) && usable_ca(ca))
            {
                return Ok(());
            }
            let Some(next) = bag
                .iter()
                .copied()
                .find(|c| *c != current && self.verify_issued_by(current, c) && usable_ca(c))
            else {
                return Err(untrusted());
            };
            current = next;
        }
        Err(untrusted())
    }

    /// Verifies a detached CMS signature `cms` (DER, PEM or base64) over `payload`, made by the
    /// person with SNILS `snils` (11 digits), at `now`.
    pub fn verify_detached(
        &self,
        cms: &[u8],
        payload: &[u8],
        snils: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, SignatureError> {
        let der = to_der(cms)?;
        if der.len() > MAX_SIGNATURE_BYTES {
            return Err(SignatureError::malformed("файл слишком большой"));
        }
        let info = ContentInfo::from_der(&der).map_err(malformed)?;
        if info.content_type != rfc5911::ID_SIGNED_DATA {
            return Err(SignatureError::malformed("это не подпись (не SignedData)"));
        }
        let signed: SignedData = info.content.decode_as().map_err(malformed)?;
        let certs: Vec<&Certificate> = signed
            .certificates
            .as_ref()
            .map(|set| {
                set.0
                    .iter()
                    .filter_map(|c| match c {
                        CertificateChoices::Certificate(c) => Some(c),
                        CertificateChoices::Other(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let [signer_info] = signed.signer_infos.0.as_slice() else {
            return Err(SignatureError::malformed("ожидается ровно одна подпись"));
        };
        if signed.encap_content_info.econtent.is_some() {
            return Err(SignatureError::malformed(
                "подпись присоединённая, нужна откреплённая",
            ));
        }
        let signer = find_signer(&certs, &signer_info.sid)?
            .ok_or_else(|| SignatureError::malformed("в подписи нет сертификата подписанта"))?;
        let key = &signer.tbs_certificate.subject_public_key_info;

        // 1. An algorithm we can verify, for the key and for the digest.
        let verifier = self.verifiers.for_key(&key.algorithm.oid)?;
        if super::is_gost(&signer_info.signature_algorithm.oid) {
            return Err(SignatureError::unsupported(&algorithm_name(
                &signer_info.signature_algorithm.oid,
            )));
        }
        let digest = verifier
            .digest(&signer_info.digest_alg.oid, payload)
            .ok_or_else(|| {
                SignatureError::unsupported(&algorithm_name(&signer_info.digest_alg.oid))
            })?;

        // 2. Exactly these data.
        let attrs = signer_info
            .signed_attrs
            .as_ref()
            .ok_or_else(|| SignatureError::malformed("нет подписанных атрибутов"))?;
        let message_digest = single_attr(attrs, rfc5911::ID_MESSAGE_DIGEST)?
            .ok_or_else(|| SignatureError::malformed("нет атрибута message-digest"))?;
        if message_digest.tag() != Tag::OctetString || message_digest.value() != digest.as_slice() {
            return Err(SignatureError::new(
                "signature_data_mismatch",
                "Подпись сделана над другими данными: заявление или документы изменились после \
                 подписания. Получите данные для подписи заново и подпишите их",
            ));
        }
        let content_type = single_attr(attrs, rfc5911::ID_CONTENT_TYPE)?
            .ok_or_else(|| SignatureError::malformed("нет атрибута content-type"))?;
        if content_type
            .decode_as::<ObjectIdentifier>()
            .map_err(malformed)?
            != signed.encap_content_info.econtent_type
        {
            return Err(SignatureError::malformed("тип содержимого не совпадает"));
        }
        let signing_time = match single_attr(attrs, rfc5911::ID_SIGNING_TIME)? {
            Some(v) => utc(&Time::from_der(&v.to_der().map_err(malformed)?).map_err(malformed)?),
            None => now,
        };
        if signing_time > now + SKEW {
            return Err(SignatureError::new(
                "signature_time_invalid",
                format!(
                    "Время подписания ({}) позже текущего: проверьте часы компьютера и подпишите \
                     заново",
                    moscow(signing_time)
                ),
            ));
        }

        // 3. The signature itself.
        let signed_attrs = attrs.to_der().map_err(malformed)?;
        verifier.verify(
            key,
            &signer_info.signature_algorithm.oid,
            &signed_attrs,
            signer_info.signature.as_bytes(),
        )?;

        // 4. The certificate: valid when signed (and now), meant for signing, from a trusted CA.
        let tbs = &signer.tbs_certificate;
        let (from, to) = (utc(&tbs.validity.not_before), utc(&tbs.validity.not_after));
        if signing_time < from || signing_time > to || now > to + SKEW {
            return Err(SignatureError::new(
                "certificate_expired",
                format!(
                    "Сертификат подписи недействителен: он действует с {} по {}. Подпишите \
                     действующим сертификатом",
                    moscow(from),
                    moscow(to)
                ),
            ));
        }
        match tbs.get::<KeyUsage>().map_err(malformed)? {
            Some((_, ku)) if ku.digital_signature() || ku.non_repudiation() => {}
            _ => {
                return Err(SignatureError::new(
                    "certificate_key_usage",
                    "Сертификат не предназначен для электронной подписи: подпишите сертификатом \
                     квалифицированной электронной подписи",
                ));
            }
        }
        self.chain(signer, &certs, signing_time)?;

        // 5. Whose signature it is.
        let theirs: String = name_attr(&tbs.subject, SNILS_OID)
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if theirs != snils {
            return Err(SignatureError::new(
                "signature_snils_mismatch",
                if theirs.is_empty() {
                    "В сертификате подписи нет СНИЛС: подпишите сертификатом, выданным вам как \
                     физическому лицу"
                        .to_owned()
                } else {
                    "Подпись сделана сертификатом другого человека: СНИЛС в сертификате не \
                     совпадает с вашим"
                        .to_owned()
                },
            ));
        }
        let certificate = signer.to_der().map_err(malformed)?;
        Ok(Verified {
            certificate_sha256: hex::encode(Sha256::digest(&certificate)),
            certificate,
            subject: display_name(&tbs.subject),
            issuer: display_name(&tbs.issuer),
            serial: hex::encode(tbs.serial_number.as_bytes()),
            algorithm: verifier.describe(key),
            signing_time,
            valid_from: from,
            valid_to: to,
            snils: theirs,
        })
    }
}

/// RSA PKCS#1 v1.5 with SHA-256, keys of 2048 bits or more.
#[derive(Debug, Clone, Copy)]
pub struct RsaSha256;

impl AlgorithmVerifier for RsaSha256 {
    fn describe(&self, key: &SubjectPublicKeyInfoOwned) -> String {
        use rsa::traits::PublicKeyParts;
        let bits = key
            .to_der()
            .ok()
            .and_then(|d| rsa::RsaPublicKey::from_public_key_der(&d).ok())
            .map_or(0, |k| k.n().bits());
        format!("RSA-{bits}/SHA-256")
    }

    fn handles(&self, key_algorithm: &ObjectIdentifier) -> bool {
        *key_algorithm == rfc5912::RSA_ENCRYPTION
    }

    fn digest(&self, digest_algorithm: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
        (*digest_algorithm == rfc5912::ID_SHA_256).then(|| Sha256::digest(data).to_vec())
    }

    fn verify(
        &self,
        key: &SubjectPublicKeyInfoOwned,
        signature_algorithm: &ObjectIdentifier,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        use rsa::signature::Verifier;
        use rsa::traits::PublicKeyParts;
        // CMS signers name either sha256WithRSAEncryption or plain rsaEncryption here.
        if *signature_algorithm != rfc5912::SHA_256_WITH_RSA_ENCRYPTION
            && *signature_algorithm != rfc5912::RSA_ENCRYPTION
        {
            return Err(SignatureError::unsupported(&algorithm_name(
                signature_algorithm,
            )));
        }
        let der = key.to_der().map_err(malformed)?;
        let public = rsa::RsaPublicKey::from_public_key_der(&der)
            .map_err(|e| SignatureError::malformed(format!("ключ RSA: {e}")))?;
        if public.n().bits() < 2048 {
            return Err(SignatureError::new(
                "certificate_weak_key",
                format!(
                    "Ключ RSA сертификата слишком короткий ({} бит): нужен не короче 2048 бит",
                    public.n().bits()
                ),
            ));
        }
        let sig =
            rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| SignatureError::invalid())?;
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
            .verify(message, &sig)
            .map_err(|_| SignatureError::invalid())
    }
}

/// ECDSA on P-256 with SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct EcdsaP256;

impl AlgorithmVerifier for EcdsaP256 {
    fn describe(&self, _key: &SubjectPublicKeyInfoOwned) -> String {
        "ECDSA P-256/SHA-256".into()
    }

    fn handles(&self, key_algorithm: &ObjectIdentifier) -> bool {
        *key_algorithm == rfc5912::ID_EC_PUBLIC_KEY
    }

    fn digest(&self, digest_algorithm: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
        (*digest_algorithm == rfc5912::ID_SHA_256).then(|| Sha256::digest(data).to_vec())
    }

    fn verify(
        &self,
        key: &SubjectPublicKeyInfoOwned,
        signature_algorithm: &ObjectIdentifier,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        use p256::ecdsa::signature::Verifier;
        let curve = key
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(rfc5912::SECP_256_R_1) {
            return Err(SignatureError::unsupported(
                "ECDSA на кривой, отличной от P-256",
            ));
        }
        if *signature_algorithm != rfc5912::ECDSA_WITH_SHA_256
            && *signature_algorithm != rfc5912::ID_EC_PUBLIC_KEY
        {
            return Err(SignatureError::unsupported(&algorithm_name(
                signature_algorithm,
            )));
        }
        let der = key.to_der().map_err(malformed)?;
        let public = p256::ecdsa::VerifyingKey::from_public_key_der(&der)
            .map_err(|e| SignatureError::malformed(format!("ключ ECDSA: {e}")))?;
        let sig = p256::ecdsa::DerSignature::from_bytes(signature)
            .map_err(|_| SignatureError::invalid())?;
        public
            .verify(message, &sig)
            .map_err(|_| SignatureError::invalid())
    }
}
