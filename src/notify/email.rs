//! The e-mail dispatcher: each row as a message with a plain-text and an HTML part, the act of
//! submission (the receipt PDF) attached to the submission notice, and the row's id in its
//! `Message-ID`, so a mail system that receives a repeat can drop it.
//!
//! Messages go to an SMTP server through `lettre` (a pool of connections, STARTTLS or TLS and
//! credentials from the URL: `smtp://user:pass@host:587?tls=required`, `smtps://host:465`), or,
//! in the embedded default, to `.eml` files in a directory. A permanent SMTP refusal (5xx)
//! fails the row at once; anything else (4xx, a timeout, a server that is down) is retried.

use super::dispatch::{Dispatcher, Failure};
use crate::domain::clock::SharedClock;
use crate::store::notifications::Outgoing;
use crate::store::{Store, StoreError};
use futures_util::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

/// Where messages go.
#[derive(Debug, Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory, one per row, named by its id.
    Files(PathBuf),
}

/// The e-mail dispatcher.
#[derive(Debug)]
pub struct Email {
    transport: Transport,
    from: Mailbox,
    domain: String,
    store: Store,
    clock: SharedClock,
    concurrency: usize,
    /// The desk's address: e-mails about a support request reply to its reply address.
    replies: Option<crate::mail_intake::Address>,
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` or `smtps://…`.
    pub url: String,
    /// Connections kept open (and messages in flight).
    pub pool: u32,
    /// Seconds before a command times out.
    pub timeout_secs: u64,
}

impl Email {
    /// A dispatcher sending as `from` (`Имя <address>`) through `transport`.
    pub fn new(
        transport: Transport,
        from: &str,
        store: Store,
        clock: SharedClock,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("the sender address {from:?} is invalid: {e}"))?;
        let domain = from.email.domain().to_owned();
        Ok(Email {
            transport,
            from,
            domain,
            store,
            clock,
            concurrency,
            replies: None,
        })
    }

    /// E-mails about a support request get `Reply-To: <local>+<its token>@<domain>` of the
    /// desk's address, so a reply comes back to that request.
    pub fn replies_to(mut self, desk: Option<crate::mail_intake::Address>) -> Self {
        self.replies = desk;
        self
    }

    /// The SMTP transport of `settings`.
    pub fn smtp(settings: &SmtpSettings) -> anyhow::Result<Transport> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| anyhow::anyhow!("ACCREDO_SMTP_URL is invalid: {e}"))?
            .pool_config(PoolConfig::new().max_size(settings.pool.max(1)))
            .timeout(Some(std::time::Duration::from_secs(
                settings.timeout_secs.max(1),
            )))
            .build();
        Ok(Transport::Smtp(transport))
    }

    /// The message of `row`, with the act of submission attached when given.
    pub fn message(
        &self,
        row: &Outgoing,
        attachment: Option<(String, Vec<u8>)>,
        reply_to: Option<&str>,
    ) -> Result<Message, Failure> {
        let to: Mailbox = row
            .address
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| Failure::Permanent(format!("invalid recipient address: {e}")))?;
        let text = SinglePart::plain(row.body.clone());
        let alternative = match &row.html {
            Some(html) => MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(html.clone())),
            None => MultiPart::mixed().singlepart(text),
        };
        let content = match attachment {
            Some((name, pdf)) => MultiPart::mixed().multipart(alternative).singlepart(
                Attachment::new(name).body(
                    pdf,
                    ContentType::parse("application/pdf")
                        .map_err(|e| Failure::Permanent(format!("attachment content type: {e}")))?,
                ),
            ),
            None => alternative,
        };
        let mut builder = Message::builder().from(self.from.clone()).to(to);
        if let Some(r) = reply_to {
            let r: Mailbox = r
                .parse()
                .map_err(|e| Failure::Permanent(format!("invalid reply address: {e}")))?;
            builder = builder.reply_to(r);
        }
        builder
            .subject(row.subject.clone())
            .message_id(Some(format!("<{}@{}>", row.id, self.domain)))
            .date(std::time::SystemTime::from(self.clock.now()))
            .multipart(content)
            .map_err(|e| Failure::Permanent(format!("cannot build the message: {e}")))
    }

    /// The reply address of the support request `row` is about, if it is about one.
    async fn reply_address(&self, row: &Outgoing) -> Result<Option<String>, Failure> {
        let (Some(desk), Some(case_id)) = (&self.replies, row.case_id.clone()) else {
            return Ok(None);
        };
        let request = self
            .store
            .run(move |conn| crate::store::support::find(conn, &case_id).map_err(StoreError::from))
            .await
            .map_err(|e| Failure::Transient(format!("cannot read the request: {e}")))?;
        Ok(request.map(|r| desk.reply_to(&r.reply_token)))
    }

    async fn attachment(&self, row: &Outgoing) -> Result<Option<(String, Vec<u8>)>, Failure> {
        let Some(case_id) = row
            .case_id
            .clone()
            .filter(|_| row.event == "submission_registered")
        else {
            return Ok(None);
        };
        let receipt = self
            .store
            .run(move |conn| {
                crate::store::signatures::latest_receipt(conn, &case_id).map_err(StoreError::from)
            })
            .await
            .map_err(|e| Failure::Transient(format!("cannot read the receipt: {e}")))?;
        Ok(receipt.map(|r| (format!("Расписка {}.pdf", r.number), r.pdf)))
    }
}

/// Whether an SMTP error will not go away by trying again.
fn classify(e: lettre::transport::smtp::Error) -> Failure {
    if e.is_permanent() {
        Failure::Permanent(format!("SMTP refused: {e}"))
    } else {
        Failure::Transient(format!("SMTP: {e}"))
    }
}

impl Dispatcher for Email {
    fn channel(&self) -> &'static str {
        "email"
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn deliver<'a>(&'a self, row: &'a Outgoing) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let attachment = self.attachment(row).await?;
            let reply_to = self.reply_address(row).await?;
            let message = self.message(row, attachment, reply_to.as_deref())?;
            match &self.transport {
                Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(classify),
                Transport::Files(dir) => {
                    // Written whole, then renamed: a reader never sees half a message.
                    let file = dir.join(format!("{}.eml", row.id));
                    let part = dir.join(format!(".{}.eml.part", row.id));
                    let bytes = message.formatted();
                    let io =
                        |e: std::io::Error| Failure::Transient(format!("{}: {e}", dir.display()));
                    tokio::fs::create_dir_all(dir).await.map_err(io)?;
                    tokio::fs::write(&part, bytes).await.map_err(io)?;
                    tokio::fs::rename(&part, &file).await.map_err(io)
                }
            }
        })
    }
}
