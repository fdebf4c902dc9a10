//! A test public-key infrastructure made at test time (nothing secret is committed): a
//! certification authority (ECDSA P-256), signer certificates carrying a SNILS in the subject
//! as qualified certificates do, and detached CMS signatures made with the RustCrypto
//! builders (RSA-2048 or ECDSA P-256, SHA-256, signed attributes with signing time).

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc4519, rfc5911, rfc5912};
use der::asn1::{BitString, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode, Tag};
use p256::ecdsa::{DerSignature, SigningKey as EcKey};
use rsa::RsaPrivateKey;
use rsa::rand_core::OsRng;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::sync::LazyLock;
use std::time::Duration;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

pub const SNILS_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.100.3");
const DAY: u64 = 86_400;

/// One RSA-2048 key per test binary (key generation is the slow part).
pub static RSA_KEY: LazyLock<RsaPrivateKey> =
    LazyLock::new(|| RsaPrivateKey::new(&mut OsRng, 2048).expect("rsa key"));

fn rdn(oid: ObjectIdentifier, tag: Tag, value: &str) -> RelativeDistinguishedName {
    let atv = AttributeTypeAndValue {
        oid,
        value: Any::new(tag, value.as_bytes()).expect("value"),
    };
    RelativeDistinguishedName(SetOfVec::try_from(vec![atv]).expect("rdn"))
}

/// `CN=<cn>` and, if given, the SNILS as a NumericString.
pub fn name(cn: &str, snils: Option<&str>) -> Name {
    let mut v = vec![rdn(rfc4519::CN, Tag::Utf8String, cn)];
    if let Some(s) = snils {
        v.push(rdn(SNILS_OID, Tag::NumericString, s));
    }
    RdnSequence(v)
}

/// An instant (seconds since the epoch) as RFC 5280 4.1.2.5 and RFC 5652 11.3 want it:
/// UTCTime through 2049, GeneralizedTime from 2050 on.
fn asn1_time(secs: u64) -> Time {
    let since_epoch = Duration::from_secs(secs);
    match UtcTime::from_unix_duration(since_epoch) {
        Ok(utc) => Time::UtcTime(utc),
        Err(_) => Time::GeneralTime(
            der::asn1::GeneralizedTime::from_unix_duration(since_epoch).expect("time"),
        ),
    }
}

/// Validity from `from` to `to` (seconds since the epoch).
pub fn validity(from: u64, to: u64) -> Validity {
    Validity {
        not_before: asn1_time(from),
        not_after: asn1_time(to),
    }
}

/// A certification authority.
pub struct Ca {
    pub key: EcKey,
    pub cert: Certificate,
}

impl Ca {
    /// A root CA valid for ten years around `now`.
    pub fn new(cn: &str, now: u64) -> Self {
        let key = EcKey::random(&mut OsRng);
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).expect("spki");
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            validity(now - 365 * DAY, now + 3650 * DAY),
            name(cn, None),
            spki,
            &key,
        )
        .expect("builder")
        .build::<DerSignature>()
        .expect("ca cert");
        Self { key, cert }
    }

    /// The CA certificate as PEM (a trust store file).
    pub fn pem(&self) -> String {
        use der::EncodePem;
        self.cert.to_pem(der::pem::LineEnding::LF).expect("pem")
    }

    /// A signer certificate for the key `spki`.
    pub fn issue(
        &self,
        serial: u32,
        cn: &str,
        snils: Option<&str>,
        spki: SubjectPublicKeyInfoOwned,
        valid: Validity,
    ) -> Certificate {
        let profile = Profile::Leaf {
            issuer: self.cert.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        CertificateBuilder::new(
            profile,
            SerialNumber::from(serial),
            valid,
            name(cn, snils),
            spki,
            &self.key,
        )
        .expect("builder")
        .build::<DerSignature>()
        .expect("leaf cert")
    }
}

impl Ca {
    /// A certificate for `key` that is not meant for signing documents: a sub-CA profile, whose
    /// key usage is keyCertSign and cRLSign only (with the SNILS, so only the purpose is wrong).
    pub fn issue_not_for_signing(&self, snils: &str, key: &EcKey, valid: Validity) -> Certificate {
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).expect("spki");
        CertificateBuilder::new(
            Profile::SubCA {
                issuer: self.cert.tbs_certificate.subject.clone(),
                path_len_constraint: Some(0),
            },
            SerialNumber::from(11u32),
            valid,
            name("Иванова Мария", Some(snils)),
            spki,
            &self.key,
        )
        .expect("builder")
        .build::<DerSignature>()
        .expect("cert")
    }
}

/// Someone who signs: a key and its certificate.
pub enum Signer {
    Ec(EcKey, Certificate),
    Rsa(Box<RsaPrivateKey>, Certificate),
}

impl Signer {
    /// An ECDSA P-256 signer with a certificate from `ca`, valid a year around `now`.
    pub fn ecdsa(ca: &Ca, cn: &str, snils: &str, now: u64) -> Self {
        let key = EcKey::random(&mut OsRng);
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).expect("spki");
        let cert = ca.issue(
            2,
            cn,
            Some(snils),
            spki,
            validity(now - 180 * DAY, now + 180 * DAY),
        );
        Self::Ec(key, cert)
    }

    /// An RSA-2048 signer with a certificate valid `valid`.
    pub fn rsa(ca: &Ca, cn: &str, snils: &str, valid: Validity) -> Self {
        let key = RSA_KEY.clone();
        let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).expect("spki");
        Self::Rsa(Box::new(key), ca.issue(3, cn, Some(snils), spki, valid))
    }

    /// A detached CMS signature (DER) over `payload`, signed at `at`.
    pub fn sign(&self, payload: &[u8], at: u64) -> Vec<u8> {
        let eci = EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        };
        let digest = Sha256::digest(payload);
        let sha256 = AlgorithmIdentifierOwned {
            oid: rfc5912::ID_SHA_256,
            parameters: None,
        };
        let mut builder = SignedDataBuilder::new(&eci);
        builder
            .add_digest_algorithm(sha256.clone())
            .expect("digest");
        match self {
            Signer::Ec(key, cert) => {
                let mut si =
                    SignerInfoBuilder::new(key, sid(cert), sha256, &eci, Some(&digest[..]))
                        .expect("signer info");
                si.add_signed_attribute(signing_time(at)).expect("time");
                builder
                    .add_certificate(CertificateChoices::Certificate(cert.clone()))
                    .expect("cert")
                    .add_signer_info::<EcKey, DerSignature>(si)
                    .expect("sign");
            }
            Signer::Rsa(key, cert) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**key).clone());
                let mut si =
                    SignerInfoBuilder::new(&signer, sid(cert), sha256, &eci, Some(&digest[..]))
                        .expect("signer info");
                si.add_signed_attribute(signing_time(at)).expect("time");
                builder
                    .add_certificate(CertificateChoices::Certificate(cert.clone()))
                    .expect("cert")
                    .add_signer_info::<rsa::pkcs1v15::SigningKey<Sha256>, rsa::pkcs1v15::Signature>(
                        si,
                    )
                    .expect("sign");
            }
        }
        builder.build().expect("build").to_der().expect("der")
    }

    /// Base64 of [`Self::sign`], as the cabinet sends it.
    pub fn sign_base64(&self, payload: &[u8], at: u64) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.sign(payload, at))
    }
}

fn sid(c: &Certificate) -> SignerIdentifier {
    SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: c.tbs_certificate.issuer.clone(),
        serial_number: c.tbs_certificate.serial_number.clone(),
    })
}

fn signing_time(unix: u64) -> Attribute {
    let t = asn1_time(unix);
    Attribute {
        oid: rfc5911::ID_SIGNING_TIME,
        values: SetOfVec::try_from(vec![Any::from_der(&t.to_der().expect("der")).expect("any")])
            .expect("set"),
    }
}

/// A CryptoPro-shaped GOST R 34.10-2012 signature: the signer's key, the digest (Streebog)
/// and the signature algorithm are GOST; the certificate chains to `ca`. The signature bytes
/// are not a real GOST signature — the verifier must refuse the algorithm before looking.
pub fn gost_cms(ca: &Ca, snils: &str, at: u64) -> Vec<u8> {
    let gost_key = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.1.1");
    let param_set = ObjectIdentifier::new_unwrap("1.2.643.7.1.2.1.1.1");
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: gost_key,
            parameters: Some(
                Any::new(Tag::Sequence, param_set.to_der().expect("der")).expect("params"),
            ),
        },
        subject_public_key: BitString::from_bytes(
            &OctetString::new(vec![0x42; 64])
                .expect("key")
                .to_der()
                .expect("der"),
        )
        .expect("bits"),
    };
    let cert = ca.issue(
        77,
        "Гостов Гост",
        Some(snils),
        spki,
        validity(at - DAY, at + DAY),
    );
    let streebog = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.643.7.1.1.2.2"),
        parameters: None,
    };
    let one = |v: Any| SetOfVec::try_from(vec![v]).expect("set");
    let attrs = SetOfVec::try_from(vec![
        Attribute {
            oid: rfc5911::ID_CONTENT_TYPE,
            values: one(Any::new(Tag::ObjectIdentifier, rfc5911::ID_DATA.as_bytes()).expect("oid")),
        },
        Attribute {
            oid: rfc5911::ID_MESSAGE_DIGEST,
            values: one(Any::new(Tag::OctetString, vec![0x11u8; 32]).expect("digest")),
        },
        signing_time(at),
    ])
    .expect("attrs");
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: sid(&cert),
        digest_alg: streebog.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: gost_key,
            parameters: None,
        },
        signature: OctetString::new(vec![0x5A; 64]).expect("sig"),
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![streebog]).expect("algs"),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(
            CertificateSet::try_from(vec![CertificateChoices::Certificate(cert)]).expect("certs"),
        ),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![si]).expect("signers"),
    };
    ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).expect("any"),
    }
    .to_der()
    .expect("der")
}
