//! A demo public-key infrastructure for `accredo demo`: a certification authority and a
//! signing certificate (with the SNILS in the subject, as in a qualified certificate) for each
//! demo specialist, written as PEM files so that a submission can be signed locally, e.g. with
//! `openssl cms -sign`. Kept between runs; never used unless `demo` runs without a trust store.

use super::cms::TrustStore;
use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use const_oid::db::rfc4519;
use der::asn1::{GeneralizedTime, SetOfVec, UtcTime};
use der::{Any, EncodePem, Tag};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use spki::SubjectPublicKeyInfoOwned;
use std::path::{Path, PathBuf};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// One demo person who can sign.
#[derive(Debug, Clone)]
pub struct DemoSigner {
    /// Who (for the printout).
    pub name: String,
    /// Their certificate (PEM file).
    pub cert: PathBuf,
    /// Their private key (PKCS#8 PEM file).
    pub key: PathBuf,
}

/// The demo PKI.
#[derive(Debug)]
pub struct DemoPki {
    /// The CA, as the trust store.
    pub trust: TrustStore,
    /// The people who can sign.
    pub signers: Vec<DemoSigner>,
}

fn random_key() -> SigningKey {
    loop {
        // A random scalar; the rare value outside the curve order is drawn again.
        if let Ok(k) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
            return k;
        }
    }
}

fn name(cn: &str, snils: Option<&str>) -> anyhow::Result<Name> {
    let mut rdns = Vec::new();
    let mut push = |oid, tag, value: &str| -> anyhow::Result<()> {
        let atv = AttributeTypeAndValue {
            oid,
            value: Any::new(tag, value.as_bytes())?,
        };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
        Ok(())
    };
    push(rfc4519::CN, Tag::Utf8String, cn)?;
    if let Some(s) = snils {
        push(super::cms::SNILS_OID, Tag::NumericString, s)?;
    }
    Ok(RdnSequence(rdns))
}

fn validity(from: DateTime<Utc>, days: i64) -> anyhow::Result<Validity> {
    let t = |at: DateTime<Utc>| -> anyhow::Result<Time> {
        let secs = u64::try_from(at.timestamp()).map_err(|_| anyhow!("time before 1970"))?;
        let since_epoch = std::time::Duration::from_secs(secs);
        // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
        Ok(match UtcTime::from_unix_duration(since_epoch) {
            Ok(utc) => Time::UtcTime(utc),
            Err(_) => Time::GeneralTime(GeneralizedTime::from_unix_duration(since_epoch)?),
        })
    };
    Ok(Validity {
        not_before: t(from - chrono::Duration::days(1))?,
        not_after: t(from + chrono::Duration::days(days))?,
    })
}

fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

fn load_or_make_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let pem = std::fs::read_to_string(path)?;
        return SigningKey::from_pkcs8_pem(&pem).map_err(|e| anyhow!("{}: {e}", path.display()));
    }
    let key = random_key();
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow!("{e}"))?;
    write_private(path, &pem)?;
    Ok(key)
}

/// Creates (or reuses) the demo PKI in `dir` for `people` (display name, SNILS digits).
pub fn ensure(
    dir: &Path,
    people: &[(String, String)],
    now: DateTime<Utc>,
) -> anyhow::Result<DemoPki> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca_key = load_or_make_key(&dir.join("ca.key.pem"))?;
    let ca_cert_path = dir.join("ca.pem");
    let ca_name = name("Демонстрационный удостоверяющий центр accredo", None)?;
    if !ca_cert_path.exists() {
        let spki = SubjectPublicKeyInfoOwned::from_key(*ca_key.verifying_key())?;
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            validity(now, 3650)?,
            ca_name.clone(),
            spki,
            &ca_key,
        )?
        .build::<DerSignature>()?;
        std::fs::write(&ca_cert_path, cert.to_pem(der::pem::LineEnding::LF)?)?;
    }
    let trust = TrustStore::load(&ca_cert_path).map_err(|e| anyhow!(e))?;
    let mut signers = Vec::new();
    for (i, (display, snils)) in people.iter().enumerate() {
        let key_path = dir.join(format!("{snils}.key.pem"));
        let cert_path = dir.join(format!("{snils}.cert.pem"));
        let key = load_or_make_key(&key_path)?;
        if !cert_path.exists() {
            let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())?;
            let serial = u32::try_from(i + 2).unwrap_or(u32::MAX);
            let cert = CertificateBuilder::new(
                Profile::Leaf {
                    issuer: ca_name.clone(),
                    enable_key_agreement: false,
                    enable_key_encipherment: false,
                },
                SerialNumber::from(serial),
                validity(now, 365)?,
                name(display, Some(snils))?,
                spki,
                &ca_key,
            )?
            .build::<DerSignature>()?;
            std::fs::write(&cert_path, cert.to_pem(der::pem::LineEnding::LF)?)?;
        }
        signers.push(DemoSigner {
            name: display.clone(),
            cert: cert_path,
            key: key_path,
        });
    }
    Ok(DemoPki { trust, signers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, DecodePem, Encode};
    use x509_cert::Certificate;

    #[test]
    fn certificates_that_run_past_2049_are_made_with_generalized_time() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let now = DateTime::parse_from_rfc3339("2045-06-01T09:00:00Z")
            .map(|d| d.to_utc())
            .unwrap_or_default();
        let people = [(
            "Иванова Мария Петровна".to_owned(),
            "11223344595".to_owned(),
        )];
        let pki = ensure(dir.path(), &people, now);
        assert!(pki.is_ok(), "{:?}", pki.err());
        let pem = std::fs::read(dir.path().join("ca.pem")).unwrap_or_default();
        let ca = Certificate::from_pem(&pem).unwrap_or_else(|_| unreachable!());
        let validity = &ca.tbs_certificate.validity;
        assert!(
            matches!(validity.not_before, Time::UtcTime(_)),
            "2045: UTCTime"
        );
        assert!(
            matches!(validity.not_after, Time::GeneralTime(_)),
            "2055: GeneralizedTime"
        );
        let der = ca.to_der().unwrap_or_default();
        assert!(Certificate::from_der(&der).is_ok(), "the DER round-trips");
    }
}
