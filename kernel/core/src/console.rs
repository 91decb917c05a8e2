//! Framing what threads write on the kernel's console, so no thread can pass
//! its text off as the kernel's or another thread's.
//!
//! Every line a thread writes starts with its name and `": "`. A write that
//! continues a line the same thread started gets no new prefix; a write by
//! anyone else (another thread, or the kernel's own log) while a thread's
//! line is open first ends that line with `\n`, so lines never mix. Bytes
//! other than printable ASCII, `\n` and `\t` become `?`: a thread can
//! neither move the cursor (`\r`, ESC sequences, backspace) nor send a
//! terminal a C1 control (raw bytes 0x80..=0x9f) to rewrite a line.
//!
//! The state machine is pure: it hands the bytes to print to a sink, and
//! the kernel keeps it under the console lock.

/// Longest name kept for a prefix (a thread name's length).
pub const NAME_MAX: usize = 32;

/// The prefix of a thread with an empty name.
pub const UNNAMED: &[u8] = b"unnamed";

/// Whether a thread's byte reaches the console as it is.
fn printable(b: u8) -> bool {
    b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b)
}

/// Whether a name byte is shown as it is in a prefix: `[A-Za-z0-9._-]`.
fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// A writer: a thread's identity and the name its line was opened under.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Writer {
    id: u64,
    name: [u8; NAME_MAX],
    len: usize,
}

impl Writer {
    /// `name` cut to [`NAME_MAX`] bytes, every byte outside
    /// `[A-Za-z0-9._-]` shown as `?`, and [`UNNAMED`] if it is empty.
    fn new(id: u64, name: &[u8]) -> Writer {
        let name = if name.is_empty() { UNNAMED } else { name };
        let len = name.len().min(NAME_MAX);
        let mut w = Writer {
            id,
            name: [0; NAME_MAX],
            len,
        };
        for (d, &s) in w.name.iter_mut().zip(&name[..len]) {
            *d = if name_byte(s) { s } else { b'?' };
        }
        w
    }

    fn name(&self) -> &[u8] {
        &self.name[..self.len]
    }
}

/// The console's line state: whose line, if any, is unfinished.
pub struct Framer {
    open: Option<Writer>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A console at the start of a line.
    pub const fn new() -> Framer {
        Framer { open: None }
    }

    /// Before the kernel prints a line of its own: end an open thread line.
    pub fn kernel_line(&mut self, out: &mut impl FnMut(&[u8])) {
        if self.open.take().is_some() {
            out(b"\n");
        }
    }

    /// Print `bytes` written by thread `id`, named `name`. A line the same
    /// thread (same `id` and name) left open goes on without a prefix.
    pub fn thread_write(
        &mut self,
        id: u64,
        name: &[u8],
        bytes: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) {
        let me = Writer::new(id, name);
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.open != Some(me) {
                self.kernel_line(out);
                out(me.name());
                out(b": ");
                self.open = Some(me);
            }
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let (line, tail) = rest.split_at(end);
            let mut run = 0;
            for (i, &b) in line.iter().enumerate() {
                if !printable(b) {
                    if run < i {
                        out(&line[run..i]);
                    }
                    out(b"?");
                    run = i + 1;
                }
            }
            if run < line.len() {
                out(&line[run..]);
            }
            if line.ends_with(b"\n") {
                self.open = None;
            }
            rest = tail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// A console: what the framer printed.
    struct Screen {
        framer: Framer,
        text: Vec<u8>,
    }

    impl Screen {
        fn new() -> Screen {
            Screen {
                framer: Framer::new(),
                text: Vec::new(),
            }
        }

        fn thread(&mut self, id: u64, name: &str, bytes: &[u8]) -> &mut Self {
            let text = &mut self.text;
            self.framer
                .thread_write(id, name.as_bytes(), bytes, &mut |b| {
                    text.extend_from_slice(b)
                });
            self
        }

        /// A kernel log line, as `log::log` prints it.
        fn kernel(&mut self, line: &str) -> &mut Self {
            let text = &mut self.text;
            self.framer.kernel_line(&mut |b| text.extend_from_slice(b));
            self.text.extend_from_slice(line.as_bytes());
            self.text.push(b'\n');
            self
        }

        fn shown(&self) -> String {
            String::from_utf8(self.text.clone()).unwrap()
        }
    }

    #[test]
    fn every_line_is_prefixed() {
        let mut s = Screen::new();
        s.thread(1, "ktest-caps", b"septum-test: a ok\nsecond line\n");
        assert_eq!(
            s.shown(),
            "ktest-caps: septum-test: a ok\nktest-caps: second line\n"
        );
        s.kernel("[INFO]  k");
        assert!(
            s.shown().ends_with("second line\n[INFO]  k\n"),
            "no line left open"
        );
    }

    #[test]
    fn a_line_goes_on_across_writes() {
        let mut s = Screen::new();
        s.thread(1, "t", b"one ")
            .thread(1, "t", b"two")
            .thread(1, "t", b"\n");
        assert_eq!(s.shown(), "t: one two\n");
        s.thread(1, "t", b"").thread(1, "t", b"x\n");
        assert_eq!(
            s.shown(),
            "t: one two\nt: x\n",
            "an empty write changes nothing"
        );
    }

    #[test]
    fn another_writer_ends_the_open_line() {
        let mut s = Screen::new();
        s.thread(1, "a", b"septum-test: x")
            .thread(2, "b", b" ok\n")
            .thread(1, "a", b" rest\n");
        assert_eq!(s.shown(), "a: septum-test: x\nb:  ok\na:  rest\n");
    }

    #[test]
    fn the_kernel_ends_the_open_line() {
        let mut s = Screen::new();
        s.thread(1, "a", b"partial")
            .kernel("[INFO]  task 'a' exited");
        assert_eq!(s.shown(), "a: partial\n[INFO]  task 'a' exited\n");
        // Nothing open: the kernel's line follows directly.
        s.kernel("[INFO]  again");
        assert_eq!(
            s.shown(),
            "a: partial\n[INFO]  task 'a' exited\n[INFO]  again\n"
        );
        s.thread(1, "a", b"after\n");
        assert!(s.shown().ends_with("[INFO]  again\na: after\n"));
    }

    #[test]
    fn same_id_under_a_new_name_is_another_writer() {
        // A renamed thread, or a new thread in a freed one's memory, does
        // not continue the old line under the old name.
        let mut s = Screen::new();
        s.thread(7, "root", b"septum-test: x")
            .thread(7, "evil", b" ok\n");
        assert_eq!(s.shown(), "root: septum-test: x\nevil:  ok\n");
    }

    #[test]
    fn control_bytes_become_question_marks() {
        let mut s = Screen::new();
        s.thread(1, "t", b"\r[INFO] x\x1b[2K\x08\x7f\x00\x9b\xc3\xa9\tend\n");
        assert_eq!(s.shown(), "t: ?[INFO] x?[2K??????\tend\n");
        assert_eq!(s.text.iter().filter(|&&b| b == b'\r').count(), 0);
    }

    #[test]
    fn names_are_shown_safely() {
        let mut s = Screen::new();
        s.thread(1, "", b"a\n")
            .thread(2, "x: septum-test", b"b\n")
            .thread(3, "ok.name_1-2", b"c\n");
        assert_eq!(s.shown(), "unnamed: a\nx??septum-test: b\nok.name_1-2: c\n");
        let long = "n".repeat(40);
        let mut s = Screen::new();
        s.thread(1, &long, b"d\n");
        assert_eq!(s.shown(), std::format!("{}: d\n", &long[..NAME_MAX]));
    }

    #[test]
    fn forged_lines_stay_framed() {
        let mut s = Screen::new();
        s.thread(
            5,
            "forger",
            b"[INFO]  Septum forged\nseptum-test: forged ok\n\r[INFO] x",
        );
        assert_eq!(
            s.shown(),
            "forger: [INFO]  Septum forged\nforger: septum-test: forged ok\nforger: ?[INFO] x"
        );
        for line in s.shown().lines() {
            assert!(line.starts_with("forger: "), "{line:?}");
        }
    }
}
