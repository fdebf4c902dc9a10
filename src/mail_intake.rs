//! The desk's own mail listener: SMTP (the `mailin` state machine) over a transport that a
//! hostile client cannot hold or bloat — lines of at most 1000 bytes (RFC 5321), messages of
//! at most [`MAX_MESSAGE`], a minute of silence or ten minutes in all per connection, and at
//! most [`MAX_CONNECTIONS`] at once (beyond, 421). A message is answered 250 only once its
//! request or comment is committed, so a sender that gets no answer retries and loses nothing
//! (a retry of the same `Message-ID` is recognised: see `service::support_mail`).

use crate::http::AppState;
use crate::service::ServiceError;
use crate::service::support_mail::{self, Refused};
use mailin::{Action, Handler, Response};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest line, CRLF included (RFC 5321 4.5.3.1.6).
pub const MAX_LINE: usize = 1000;
/// The largest message taken (a screenshot or two as attachments fit).
pub const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Silence before a connection is closed.
const IDLE: Duration = Duration::from_secs(60);
/// The longest a connection lasts.
const SESSION: Duration = Duration::from_secs(600);

/// The desk's address, `local@domain`: mail to it opens a request, mail to
/// `local+<token>@domain` comments on the request whose reply token that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The part before `@` (lower case).
    pub local: String,
    /// The domain (lower case).
    pub domain: String,
}

impl Address {
    /// Parses `local@domain`.
    pub fn parse(s: &str) -> Option<Address> {
        let (local, domain) = s.trim().rsplit_once('@')?;
        let ok = |p: &str| !p.is_empty() && !p.contains(['+', ' ', '<', '>']);
        (ok(local) && ok(domain)).then(|| Address {
            local: local.to_lowercase(),
            domain: domain.to_lowercase(),
        })
    }

    /// The reply address of a request's token.
    pub fn reply_to(&self, token: &str) -> String {
        format!("{}+{token}@{}", self.local, self.domain)
    }

    /// What a recipient address is to the desk: `Some(None)` the desk itself, `Some(Some(t))`
    /// a request's reply address, `None` not ours.
    pub fn recipient(&self, to: &str) -> Option<Option<String>> {
        let to = to.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = to.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let local = local.to_lowercase();
        if local == self.local {
            return Some(None);
        }
        let token = local.strip_prefix(&format!("{}+", self.local))?;
        (token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Some(token.to_owned()))
    }
}

/// One SMTP session's state.
struct Session {
    state: AppState,
    address: Arc<Address>,
    /// The recipient of the message in progress: `Some(token)` for a reply address.
    to: Option<Option<String>>,
    buf: Vec<u8>,
    too_big: bool,
    /// Set when a message was refused at its end: `mailin` then stays in its DATA state, so
    /// the transport closes the connection after the answer (the sender has its 4xx/5xx).
    refused: Arc<std::sync::atomic::AtomicBool>,
}

fn reply(code: u16, text: &str) -> Response {
    Response::custom(code, text.to_owned())
}

impl Handler for Session {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        self.to = None;
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        match (self.address.recipient(to), &self.to) {
            (Some(r), None) => {
                self.to = Some(r);
                mailin::response::OK
            }
            (Some(_), Some(_)) => reply(452, "4.5.3 One recipient per message"),
            (None, _) => mailin::response::NO_MAILBOX,
        }
    }

    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> Response {
        self.buf.clear();
        self.too_big = false;
        mailin::response::OK
    }

    fn data(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if self.buf.len() + chunk.len() > MAX_MESSAGE {
            self.too_big = true;
        } else if !self.too_big {
            self.buf.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let res = self.take_message();
        if res.is_error {
            self.refused.store(true, Ordering::SeqCst);
        }
        res
    }
}

impl Session {
    fn take_message(&mut self) -> Response {
        let raw = std::mem::take(&mut self.buf);
        let token = self.to.take().flatten();
        if std::mem::take(&mut self.too_big) {
            return reply(552, "5.3.4 Message too big");
        }
        let state = &self.state;
        let now = state.clock.now();
        let result = state
            .store
            .conn()
            .map_err(Refused::from)
            .and_then(|mut conn| {
                let rules = crate::service::Rules {
                    catalog: &state.catalog,
                    signing: &state.signing,
                    notices: &state.notices,
                };
                support_mail::receive(
                    &mut conn,
                    rules,
                    state.messages,
                    &raw,
                    token.as_deref(),
                    now,
                )
            });
        match result {
            Ok(r) => {
                tracing::info!(case = %r.case_id, opened = r.opened, "support mail taken");
                reply(250, &format!("2.0.0 OK {}", r.number.unwrap_or(r.case_id)))
            }
            Err(Refused::UnknownSender) => reply(
                550,
                "5.7.1 Sender unknown: write from the e-mail address set in your cabinet",
            ),
            Err(Refused::NoConsent) => reply(
                550,
                "5.7.1 Sign in to the cabinet and consent to the transfer of your data first",
            ),
            Err(Refused::UnknownToken) => reply(550, "5.1.1 No such request to reply to"),
            Err(Refused::Unreadable(why)) => {
                reply(554, &format!("5.6.0 Unreadable message: {why}"))
            }
            Err(Refused::Service(ServiceError::Store(e))) => {
                tracing::warn!(error = %e, "support mail not taken; the sender will retry");
                reply(451, "4.3.0 Temporarily unable to take the message")
            }
            Err(Refused::Service(e)) => {
                let code = e.denial_code().unwrap_or("refused");
                tracing::info!(error = %e, code, "support mail refused");
                reply(550, &format!("5.7.0 Refused: {code}"))
            }
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes (`Ok(false)` at the end of the stream).
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<bool> {
    line.clear();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(false);
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if line.len() + used > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
        line.extend_from_slice(&available[..used]);
        reader.consume(used);
        if done {
            return Ok(true);
        }
    }
}

/// Drops input up to the end of the line, at most `limit` bytes (`Ok(false)`: more than that,
/// or the stream ended).
fn skip_line(reader: &mut impl BufRead, limit: usize) -> std::io::Result<bool> {
    let mut dropped = 0;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(false);
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        reader.consume(used);
        dropped += used;
        if done {
            return Ok(true);
        }
        if dropped > limit {
            return Ok(false);
        }
    }
}

fn serve_connection(stream: TcpStream, session: Session) -> std::io::Result<()> {
    let refused = session.refused.clone();
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let peer = stream.peer_addr()?.ip();
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let builder = mailin::SessionBuilder::new("accredo");
    let mut smtp = builder.build(peer, session);
    smtp.greeting().write_to(&mut writer)?;
    let started = Instant::now();
    let mut line = Vec::with_capacity(128);
    while started.elapsed() < SESSION {
        match read_line(&mut reader, &mut line) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                // The rest of the line is read and dropped (never kept), then the client
                // hears why; a line longer than a megabyte ends the session.
                if !skip_line(&mut reader, 1024 * 1024)? {
                    return Ok(());
                }
                reply(500, "5.5.2 Line too long").write_to(&mut writer)?;
                continue;
            }
            Err(e) => return Err(e),
        }
        let res = smtp.process(&line);
        match res.action {
            Action::Reply if refused.load(Ordering::SeqCst) => {
                res.write_to(&mut writer)?;
                return Ok(());
            }
            Action::Reply => res.write_to(&mut writer)?,
            Action::Close => {
                res.write_to(&mut writer)?;
                return Ok(());
            }
            // STARTTLS is not offered.
            Action::UpgradeTls => return Ok(()),
            Action::NoReply => {}
        }
        writer.flush()?;
    }
    reply(421, "4.4.2 Session too long").write_to(&mut writer)
}

/// Serves the desk's mail on `listener`, a thread per connection (at most
/// [`MAX_CONNECTIONS`]), until the process ends.
pub fn spawn(listener: TcpListener, state: AppState, address: Address) -> std::io::Result<()> {
    let address = Arc::new(address);
    let open = Arc::new(AtomicUsize::new(0));
    tracing::info!(addr = %listener.local_addr()?, "support mail: listening (SMTP)");
    std::thread::Builder::new()
        .name("mail-intake".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut stream) = conn else { continue };
                if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::SeqCst);
                    let _ = reply(421, "4.3.2 Too busy, try again later").write_to(&mut stream);
                    continue;
                }
                let session = Session {
                    state: state.clone(),
                    address: address.clone(),
                    to: None,
                    buf: Vec::new(),
                    too_big: false,
                    refused: Arc::default(),
                };
                let open = open.clone();
                let spawned = std::thread::Builder::new()
                    .name("mail-session".into())
                    .spawn(move || {
                        if let Err(e) = serve_connection(stream, session) {
                            tracing::debug!(error = %e, "support mail: connection ended");
                        }
                        open.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    tracing::warn!("support mail: cannot start a session thread");
                }
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desk_knows_its_own_address_and_its_reply_addresses() {
        let a = Address::parse("Support@Accredo.local").expect("address");
        assert_eq!(a.recipient("<support@accredo.local>"), Some(None));
        let token = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            a.recipient(&a.reply_to(token)),
            Some(Some(token.to_owned()))
        );
        assert_eq!(a.recipient("support+short@accredo.local"), None);
        assert_eq!(a.recipient("support@elsewhere.ru"), None);
        assert_eq!(a.recipient("other@accredo.local"), None);
        assert_eq!(Address::parse("support+x@accredo.local"), None);
    }

    #[test]
    fn a_line_is_at_most_1000_bytes() {
        let mut line = Vec::new();
        let long = vec![b'a'; MAX_LINE + 10];
        let err = read_line(&mut &long[..], &mut line).expect_err("too long");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let ok = b"HELO x\r\nMAIL";
        let mut r = &ok[..];
        assert!(read_line(&mut r, &mut line).expect("line"));
        assert_eq!(line, b"HELO x\r\n");
    }
}
