//! Signed submission: verification of detached CMS signatures (each way a signature can be
//! wrong gets its own code and Russian message), the signature guard on submit, the numbered
//! receipt in PDF and XML.

use crate::pki::{Ca, Signer, gost_cms, validity};
use crate::support::{TestApp, json_of, unix};
use accredo::domain::clock::{Clock, SystemClock};
use accredo::signature::Verifiers;
use accredo::signature::cms::{Checker, TrustStore};
use serde_json::{Value, json};

const SNILS: &str = "11223344595";
const DAY: u64 = 86_400;

fn checker(ca: &Ca) -> Checker {
    Checker {
        trust: TrustStore::from_pem(ca.pem().as_bytes()).expect("trust"),
        verifiers: Verifiers::default(),
    }
}

#[test]
fn each_way_a_signature_can_be_wrong_has_its_own_answer() {
    let now_t = SystemClock.now();
    let now = unix(now_t);
    let ca = Ca::new("Тестовый УЦ", now);
    let check = checker(&ca);
    let payload = br#"{"case":{"id":"c1","version":7}}"#;
    let verify = |sig: &[u8], data: &[u8], snils: &str| {
        check
            .verify_detached(sig, data, snils, now_t)
            .map_err(|e| (e.code, e.message))
    };

    // Valid ECDSA P-256 and RSA-2048 signatures, in DER and in PEM and base64.
    let ec = Signer::ecdsa(&ca, "Иванова Мария", SNILS, now);
    let ok = verify(&ec.sign(payload, now), payload, SNILS).expect("ecdsa");
    assert_eq!(
        (
            ok.algorithm.as_str(),
            ok.snils.as_str(),
            ok.subject.as_str(),
            ok.issuer.as_str()
        ),
        ("ECDSA P-256/SHA-256", SNILS, "Иванова Мария", "Тестовый УЦ")
    );
    let rsa = Signer::rsa(&ca, "Иванова Мария", SNILS, validity(now - DAY, now + DAY));
    let der = rsa.sign(payload, now);
    let ok = verify(&der, payload, SNILS).expect("rsa");
    assert_eq!(ok.algorithm, "RSA-2048/SHA-256");
    let pem = der::pem::encode_string("CMS", der::pem::LineEnding::LF, &der).expect("pem");
    verify(pem.as_bytes(), payload, SNILS).expect("pem");
    verify(rsa.sign_base64(payload, now).as_bytes(), payload, SNILS).expect("base64");

    let code = |r: Result<_, (&'static str, String)>| r.map(drop).expect_err("refused");
    // Over other data.
    let (c, m) = code(verify(&der, br#"{"case":{"id":"c1","version":8}}"#, SNILS));
    assert_eq!(c, "signature_data_mismatch");
    assert!(m.contains("изменились после подписания"), "{m}");
    // Another person's certificate.
    let (c, m) = code(verify(&der, payload, "12345678964"));
    assert_eq!(c, "signature_snils_mismatch");
    assert!(m.contains("другого человека"), "{m}");
    // A certificate without a SNILS.
    let key = p256::ecdsa::SigningKey::random(&mut rsa::rand_core::OsRng);
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).expect("spki");
    let no_snils = Signer::Ec(
        key,
        ca.issue(9, "Организация", None, spki, validity(now - DAY, now + DAY)),
    );
    let (c, m) = code(verify(&no_snils.sign(payload, now), payload, SNILS));
    assert_eq!(c, "signature_snils_mismatch");
    assert!(m.contains("нет СНИЛС"), "{m}");
    // A certificate whose key usage does not include signing.
    let key = p256::ecdsa::SigningKey::random(&mut rsa::rand_core::OsRng);
    let cert = ca.issue_not_for_signing(SNILS, &key, validity(now - DAY, now + DAY));
    let (c, m) = code(verify(
        &Signer::Ec(key, cert).sign(payload, now),
        payload,
        SNILS,
    ));
    assert_eq!(c, "certificate_key_usage");
    assert!(m.contains("не предназначен"), "{m}");
    // An RSA key shorter than 2048 bits.
    let short = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("rsa-1024");
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(short.to_public_key()).expect("spki");
    let cert = ca.issue(
        12,
        "Иванова Мария",
        Some(SNILS),
        spki,
        validity(now - DAY, now + DAY),
    );
    let weak = Signer::Rsa(Box::new(short), cert);
    let (c, m) = code(verify(&weak.sign(payload, now), payload, SNILS));
    assert_eq!(c, "certificate_weak_key");
    assert!(m.contains("1024"), "{m}");
    // An expired certificate.
    let old = Signer::rsa(
        &ca,
        "Иванова Мария",
        SNILS,
        validity(now - 400 * DAY, now - 35 * DAY),
    );
    let (c, m) = code(verify(&old.sign(payload, now), payload, SNILS));
    assert_eq!(c, "certificate_expired");
    assert!(m.contains("действует с"), "{m}");
    // Signed "back then", while it was valid, but submitted after it expired.
    let (c, _) = code(verify(&old.sign(payload, now - 100 * DAY), payload, SNILS));
    assert_eq!(c, "certificate_expired");
    // A certificate from an authority we do not trust.
    let rogue = Ca::new("Посторонний УЦ", now);
    let stranger = Signer::ecdsa(&rogue, "Иванова Мария", SNILS, now);
    let (c, m) = code(verify(&stranger.sign(payload, now), payload, SNILS));
    assert_eq!(c, "certificate_untrusted");
    assert!(m.contains("Посторонний УЦ"), "{m}");
    // GOST R 34.10-2012: named, not verified.
    let (c, m) = code(verify(&gost_cms(&ca, SNILS, now), payload, SNILS));
    assert_eq!(c, "signature_algorithm_unsupported");
    assert!(m.contains("ГОСТ Р 34.10-2012"), "{m}");
    // Signing time in the future.
    let (c, _) = code(verify(&ec.sign(payload, now + DAY), payload, SNILS));
    assert_eq!(c, "signature_time_invalid");
    // A signature value that does not verify (one bit flipped near the end of the file, in
    // the signature octets).
    let mut flipped = der.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let (c, _) = code(verify(&flipped, payload, SNILS));
    assert_eq!(c, "signature_invalid");
    // Garbage, an empty file, a truncated file, random bytes that look like DER.
    for bad in [
        b"not a signature at all".to_vec(),
        Vec::new(),
        der[..der.len() / 2].to_vec(),
        vec![0x30, 0x82, 0xFF, 0xFF, 0x01, 0x02],
    ] {
        let (c, m) = code(verify(&bad, payload, SNILS));
        assert_eq!(c, "signature_malformed", "{bad:?}");
        assert!(m.contains("CMS"), "{m}");
    }
}

fn receipt_number(v: &Value) -> String {
    v["receipt"]["number"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_signed_submission_gets_a_numbered_receipt_in_pdf_and_xml() {
    let app = TestApp::spawn().await;
    let me = app.specialist("signer");
    let (id, v) = app.ready_case(&me).await;

    // No receipt before submission; no submission without a signature.
    let res = app
        .get(&format!("/api/v1/cases/{id}/receipt.pdf"), &me)
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(json_of(res).await["code"], "receipt_not_found");
    let body = json_of(app.transition(&me, &id, "submit", v, json!({})).await).await;
    assert!(
        body["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|e| e["code"] == "signature_missing")),
        "{body}"
    );

    // The payload: canonical bytes, their hash, the case version.
    let (payload, version) = app.signing_payload(&me, &id).await;
    assert_eq!(version, v);
    let text = String::from_utf8(payload.clone()).expect("utf-8");
    assert!(text.starts_with("{\"case\":{\"id\":"), "{text}");
    assert!(text.contains("\"definition_hash\""), "{text}");
    let signed = app.signed(&me, &id).await;
    let res = app.transition(&me, &id, "submit", v, signed).await;
    assert_eq!(res.status(), 200);

    // The audit event carries the signature and the number (no personal data).
    let events = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    assert!(events.as_array().is_some_and(|e| !e.is_empty()), "{events}");
    let payload_event: Value = {
        use accredo::store::schema::audit_events as ae;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        let p: String = ae::table
            .filter(ae::case_id.eq(&id))
            .filter(ae::kind.eq("case.transition"))
            .order(ae::id.desc())
            .select(ae::payload)
            .first(&mut *conn)
            .expect("event");
        serde_json::from_str(&p).expect("json")
    };
    let number = receipt_number(&payload_event);
    let year = accredo::receipt::in_moscow(app.clock.now())
        .format("%Y")
        .to_string();
    assert_eq!(number, format!("{year}-77-000001"));
    assert_eq!(
        payload_event["signature"]["algorithm"], "ECDSA P-256/SHA-256",
        "{payload_event}"
    );
    assert!(!payload_event.to_string().contains(&app.owner_snils(&id)));
    // Stored with the case: the signature file, the signer certificate, what was verified.
    {
        let mut conn = app.state.store.conn().expect("conn");
        let stored = accredo::store::signatures::latest_signature(&mut conn, &id)
            .expect("query")
            .expect("stored signature");
        assert_eq!(
            stored.payload_sha256,
            payload_event["signature"]["payload_sha256"]
                .as_str()
                .unwrap_or_default()
        );
        assert_eq!(stored.case_version, v);
        assert_eq!(
            (stored.transition.as_str(), stored.algorithm.as_str()),
            ("submit", "ECDSA P-256/SHA-256")
        );
        use sha2::Digest;
        assert_eq!(
            stored.certificate_sha256,
            hex::encode(sha2::Sha256::digest(&stored.certificate))
        );
        assert!(!stored.signature.is_empty());
    }

    // The PDF: parses, has the number and the applicant in Cyrillic; the same bytes twice.
    let get = |path: String| {
        let app = &app;
        let me = &me;
        async move {
            let res = app.get(&path, me).await;
            assert_eq!(res.status(), 200, "{path}");
            let number = res
                .headers()
                .get("x-receipt-number")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned);
            let kind = res
                .headers()
                .get("content-type")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned);
            (number, kind, res.bytes().await.expect("body").to_vec())
        }
    };
    let (n, kind, pdf) = get(format!("/api/v1/cases/{id}/receipt.pdf")).await;
    assert_eq!(
        (n.as_deref(), kind.as_deref()),
        (Some(number.as_str()), Some("application/pdf"))
    );
    let (_, _, again) = get(format!("/api/v1/cases/{id}/receipt.pdf")).await;
    assert_eq!(pdf, again, "identical when downloaded twice");
    let text = pdf_extract::extract_text_from_mem(&pdf).expect("pdf text");
    assert!(text.contains(&number), "{text}");
    assert!(text.contains("Тестова signer"), "{text}");
    assert!(
        text.contains("Электронный акт о подаче заявления"),
        "{text}"
    );
    assert!(text.contains("МСК"), "{text}");

    // The XML: valid against schemas/receipt.xsd, same number; the same bytes twice.
    let (_, kind, xml) = get(format!("/api/v1/cases/{id}/receipt.xml")).await;
    assert_eq!(kind.as_deref(), Some("application/xml; charset=utf-8"));
    let (_, _, again) = get(format!("/api/v1/cases/{id}/receipt.xml")).await;
    assert_eq!(xml, again);
    let xml = String::from_utf8(xml).expect("utf-8");
    assert!(xml.contains(&format!("number=\"{number}\"")), "{xml}");
    assert!(xml.contains("<fullName>Тестова signer</fullName>"), "{xml}");
    assert_valid_xml(&xml, "schemas/receipt.xsd");

    // The commission can download it; another applicant cannot.
    let reviewer = app.user("reviewer", &[accredo::domain::role::Role::Reviewer]);
    let res = app
        .get(&format!("/api/v1/cases/{id}/receipt.xml"), &reviewer)
        .await;
    assert_eq!(res.status(), 200);
    let other = app.specialist("someone-else");
    let res = app
        .get(&format!("/api/v1/cases/{id}/receipt.xml"), &other)
        .await;
    assert_eq!(res.status(), 404);
}

/// Validates against the schema `xsd_file` (of the repository) with the pure-Rust validator,
/// and with xmllint (libxml2) too where it is installed (CI installs it); a copy with a broken
/// SNILS must not validate.
pub(crate) fn assert_valid_xml(xml: &str, xsd_file: &str) {
    let xsd = std::fs::read_to_string(crate::support::repo().join(xsd_file)).expect("xsd");
    let schema = xmlschema::parse_schema(&xsd).expect("schema");
    let unsupported = xmlschema::support::unsupported(&oxml::parse(&xsd).expect("xsd doc"));
    assert!(
        unsupported.is_empty(),
        "every rule of the schema enforced: {unsupported:?}"
    );
    let doc = oxml::parse(xml).expect("xml");
    let report = xmlschema::validate(&doc, &schema);
    assert!(report.is_valid(), "{report}\n{xml}");
    // A broken receipt is caught (the check can fail).
    let broken = xml.replacen("<snils>", "<snils>x", 1);
    let report = xmlschema::validate(&oxml::parse(&broken).expect("xml"), &schema);
    assert!(!report.is_valid(), "a bad SNILS must not validate");
    if let Ok(path) = which("xmllint") {
        use std::io::Write;
        let xsd_path = crate::support::repo().join(xsd_file);
        let mut child = std::process::Command::new(path)
            .args(["--noout", "--schema"])
            .arg(&xsd_path)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("xmllint");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(xml.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("xmllint");
        assert!(
            out.status.success(),
            "xmllint: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI must validate receipts with xmllint too (apt-get install libxml2-utils)");
    }
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

#[tokio::test]
async fn a_change_after_signing_makes_the_signature_stale() {
    let app = TestApp::spawn().await;
    let me = app.specialist("changer");
    let (id, v) = app.ready_case(&me).await;
    let signed = app.signed(&me, &id).await;
    let res = app
        .patch_form(
            &me,
            &id,
            v,
            json!({"employment": {"position": "Врач-терапевт"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app.transition(&me, &id, "submit", v + 1, signed).await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    let refused: Vec<&str> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(refused, ["signature_data_mismatch"], "{body}");
    // Signed again over the new payload, it goes through.
    let signed = app.signed(&me, &id).await;
    let res = app.transition(&me, &id, "submit", v + 1, signed).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_signature_made_with_another_persons_certificate_is_refused() {
    let app = TestApp::spawn().await;
    let me = app.specialist("impostor-victim");
    let (id, v) = app.ready_case(&me).await;
    let (payload, _) = app.signing_payload(&me, &id).await;
    let now = unix(app.clock.now());
    let someone = Signer::ecdsa(&app.ca, "Петров Пётр", "12345678964", now);
    let body = json!({ "signature": someone.sign_base64(&payload, now) });
    let res = app.transition(&me, &id, "submit", v, body).await;
    let body = json_of(res).await;
    assert!(
        body.to_string().contains("signature_snils_mismatch"),
        "{body}"
    );
    let gost = gost_cms(&app.ca, &app.owner_snils(&id), now);
    use base64::Engine as _;
    let body = json!({ "signature": base64::engine::general_purpose::STANDARD.encode(gost) });
    let body = json_of(app.transition(&me, &id, "submit", v, body).await).await;
    assert!(
        body.to_string().contains("signature_algorithm_unsupported"),
        "{body}"
    );
    let body = json_of(
        app.transition(
            &me,
            &id,
            "submit",
            v,
            json!({"signature": "bm90IGEgc2lnbmF0dXJl"}),
        )
        .await,
    )
    .await;
    assert!(body.to_string().contains("signature_malformed"), "{body}");
}

#[tokio::test]
async fn receipt_numbers_are_unique_and_consecutive_under_concurrent_submissions() {
    let app = TestApp::spawn().await;
    let mut ready = Vec::new();
    for i in 0..6 {
        let me = app.specialist(&format!("concurrent-{i}"));
        let (id, v) = app.ready_case(&me).await;
        let body = app.signed(&me, &id).await;
        ready.push((me, id, v, body));
    }
    let results = futures::future::join_all(ready.iter().map(|(me, id, v, body)| {
        let app = &app;
        async move {
            let res = app.transition(me, id, "submit", *v, body.clone()).await;
            assert_eq!(res.status(), 200);
            let res = app
                .get(&format!("/api/v1/cases/{id}/receipt.xml"), me)
                .await;
            res.headers()
                .get("x-receipt-number")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .expect("number")
        }
    }))
    .await;
    let mut seqs: Vec<u32> = results
        .iter()
        .map(|n| {
            n.rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("seq")
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "{results:?}");
}

/// A signature made by another implementation (OpenSSL's `cms -sign`, as the README shows and
/// as many signing tools produce) verifies; the same tool signing other data does not.
#[test]
fn a_signature_made_by_openssl_verifies() {
    let Ok(openssl) = which("openssl") else {
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "CI must run the OpenSSL interoperability test (openssl on PATH)"
        );
        return;
    };
    let now_t = SystemClock.now();
    let now = unix(now_t);
    let ca = Ca::new("Тестовый УЦ", now);
    let dir = tempfile::tempdir().expect("dir");
    let pki = accredo::signature::demo::ensure(
        dir.path(),
        &[("Иванова Мария Петровна".to_owned(), SNILS.to_owned())],
        now_t,
    )
    .expect("demo pki");
    let signer = &pki.signers[0];
    let payload = br#"{"case":{"id":"c1","version":3},"form":{"x":"\u0416"}}"#;
    let data = dir.path().join("payload.json");
    std::fs::write(&data, payload).expect("payload");
    let out = dir.path().join("payload.p7s");
    let status = std::process::Command::new(openssl)
        .args([
            "cms", "-sign", "-binary", "-md", "sha256", "-outform", "DER", "-in",
        ])
        .arg(&data)
        .arg("-signer")
        .arg(&signer.cert)
        .arg("-inkey")
        .arg(&signer.key)
        .arg("-out")
        .arg(&out)
        .status()
        .expect("openssl");
    assert!(status.success());
    let cms = std::fs::read(&out).expect("signature");
    let demo = Checker {
        trust: pki.trust.clone(),
        verifiers: Verifiers::default(),
    };
    let ok = demo
        .verify_detached(&cms, payload, SNILS, now_t)
        .expect("openssl signature verifies");
    assert_eq!(ok.subject, "Иванова Мария Петровна");
    let refused = demo
        .verify_detached(&cms, b"other data", SNILS, now_t)
        .expect_err("other data");
    assert_eq!(refused.code, "signature_data_mismatch");
    // And a CA that did not issue it does not vouch for it.
    let refused = checker(&ca)
        .verify_detached(&cms, payload, SNILS, now_t)
        .expect_err("unknown CA");
    assert_eq!(refused.code, "certificate_untrusted");
}
