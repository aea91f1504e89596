//! Writing a reply: lines go, already encoded and batched, from the event
//! loop to the task that owns the client's socket.

use control::{Rc, ReplyLine};
use tokio::sync::mpsc::UnboundedSender;

/// Batches are sent when they grow past this many bytes.
const CHUNK: usize = 64 * 1024;

/// The writing end of one client's reply. Dropping it without
/// [`Replier::finish`] ends the reply with `RC_INTERNAL_ERROR`.
#[derive(Debug)]
pub struct Replier {
    buf: String,
    tx: Option<UnboundedSender<String>>,
    first_failure: Option<Rc>,
    finished: bool,
}

impl Replier {
    /// A replier that sends batches of wire text to `tx`.
    pub fn new(tx: UnboundedSender<String>) -> Self {
        Replier {
            buf: String::new(),
            tx: Some(tx),
            first_failure: None,
            finished: false,
        }
    }

    /// A replier that keeps everything (for start-up work without a client,
    /// and for tests); read it with [`Replier::take_text`].
    pub fn detached() -> Self {
        Replier {
            buf: String::new(),
            tx: None,
            first_failure: None,
            finished: false,
        }
    }

    fn push(&mut self, line: &ReplyLine) {
        self.buf.push_str(&line.encode());
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    /// Appends one wire line without building a [`ReplyLine`] (the status
    /// path writes hundreds of thousands of them); same bytes as
    /// [`ReplyLine::encode`].
    fn push_fast(&mut self, marker: Option<char>, rc: Option<Rc>, text: &str) {
        if let Some(m) = marker {
            self.buf.push(m);
        }
        if let Some(rc) = rc {
            let code = rc.code().min(999);
            for d in [code / 100, code / 10 % 10, code % 10] {
                self.buf.push(char::from(b'0' + d as u8));
            }
            self.buf.push(' ');
        }
        if text.contains(['\n', '\r']) {
            self.buf.push_str(&text.replace(['\n', '\r'], " "));
        } else {
            self.buf.push_str(text);
        }
        self.buf.push('\n');
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    /// Sends what is batched now (a line the client should see while the
    /// reply goes on waiting).
    pub fn flush(&mut self) {
        if let Some(tx) = &self.tx {
            if !self.buf.is_empty() {
                // A client that went away just stops receiving.
                let _ = tx.send(std::mem::take(&mut self.buf));
            }
        }
    }

    /// A line with a status prefix. A failure code is remembered as the
    /// reply's status unless an earlier failure was.
    pub fn line(&mut self, rc: Rc, text: impl AsRef<str>) {
        if rc.is_failure() && self.first_failure.is_none() {
            self.first_failure = Some(rc);
        }
        self.push_fast(None, Some(rc), text.as_ref());
    }

    /// A `000` line.
    pub fn info(&mut self, text: impl AsRef<str>) {
        self.line(Rc::COMMENT, text);
    }

    /// A `002` log line shown to the user.
    pub fn log(&mut self, text: impl AsRef<str>) {
        self.line(Rc::LOG, text);
    }

    /// A `002` log line shown only with `--verbose`.
    pub fn verbose(&mut self, text: impl AsRef<str>) {
        self.push_fast(Some('~'), Some(Rc::LOG), text.as_ref());
    }

    /// A line without prefix.
    pub fn raw(&mut self, text: impl AsRef<str>) {
        self.push_fast(Some('|'), None, text.as_ref());
    }

    /// A failure: the line, with the code as prefix, and the code becomes
    /// the reply's status (unless an earlier failure did).
    pub fn fail(&mut self, rc: Rc, text: impl AsRef<str>) {
        self.line(rc, text);
    }

    /// The first failure so far.
    pub fn failure(&self) -> Option<Rc> {
        self.first_failure
    }

    /// Ends the reply with the first failure, or success.
    pub fn finish(mut self) {
        let rc = self.first_failure.unwrap_or(Rc::OK);
        self.push(&ReplyLine::Done(rc));
        self.flush();
        self.finished = true;
    }

    /// The text written so far (detached repliers).
    pub fn take_text(&mut self) -> String {
        std::mem::take(&mut self.buf)
    }
}

impl Drop for Replier {
    fn drop(&mut self) {
        if !self.finished && self.tx.is_some() {
            self.push(&ReplyLine::Line {
                rc: Rc::INTERNAL_ERROR,
                text: "internal error: the request ended without a reply".into(),
            });
            self.push(&ReplyLine::Done(Rc::INTERNAL_ERROR));
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_wins() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut r = Replier::new(tx);
        r.info("hello");
        r.raw("{\"a\":\n1}");
        r.fail(Rc::UNKNOWN_NAME, "no connection named \"x\"");
        r.fail(Rc::DUPNAME, "second");
        r.verbose("noise");
        r.finish();
        let mut text = String::new();
        while let Ok(chunk) = rx.try_recv() {
            text.push_str(&chunk);
        }
        assert_eq!(
            text,
            "000 hello\n|{\"a\": 1}\n021 no connection named \"x\"\n020 second\n~002 noise\n=021\n"
        );
    }

    #[test]
    fn fast_path_matches_encode() {
        for line in [
            ReplyLine::Line {
                rc: Rc(181),
                text: "a\nb".into(),
            },
            ReplyLine::Verbose {
                rc: Rc::LOG,
                text: "v".into(),
            },
            ReplyLine::Raw("x".into()),
        ] {
            let mut r = Replier::detached();
            match &line {
                ReplyLine::Line { rc, text } => r.line(*rc, text),
                ReplyLine::Verbose { text, .. } => r.verbose(text),
                ReplyLine::Raw(text) => r.raw(text),
                ReplyLine::Done(_) => {}
            }
            assert_eq!(r.take_text(), line.encode());
        }
    }

    #[test]
    fn dropped_replier_reports_internal_error() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        drop(Replier::new(tx));
        let text = rx.try_recv().unwrap();
        assert!(text.ends_with("=052\n"), "{text}");
    }
}
