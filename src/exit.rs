//! Why a subcommand failed, the one line the user reads about it, and the exit status,
//! decided in one place from the error's kind (never from its text):
//!
//! - 0: done (also when the reader of stdout went away: `netkit ... | head`);
//! - 1: the job could not be done, or was done only in part;
//! - 2: a usage error (clap's own, and arguments clap cannot check).

use netkit_cmds::l2trace::agent::BadCidr;
use netkit_cmds::l2trace::BadStation;
use netkit_cmds::mcast::McastError;
use netkit_cmds::output::plural;
use netkit_dissectors::frame::DecodeAsError;
use netkit_os::bpf::BpfError;
use netkit_os::caps::{DropFailed, MissingCaps};
use netkit_os::capture::CaptureError;
use netkit_os::l2::L2Error;
use netkit_os::live::LiveError;
use netkit_os::netns::each::ViewError;
use netkit_os::netns::exec::ExecError;
use netkit_os::netns::NetnsError;
use netkit_os::signals::SignalError;
use netkit_os::term::TermError;
use std::io;
use std::process::ExitCode;

/// Everything a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument clap could not check (an interval out of range): a usage error.
    #[error("{0}")]
    BadArgument(&'static str),
    #[error("--write-streams needs a capture file: standard input cannot be read twice")]
    WriteStreamsFromStdin,
    #[error("--write-streams takes one capture file (it writes that file's streams)")]
    WriteStreamsOfManyFiles,
    /// A `--jobs` worker stopped without a result (a bug: it panicked).
    #[error("an analysis thread failed; run again with --jobs 1 and report the file")]
    WorkerFailed,
    #[error(transparent)]
    DecodeAs(#[from] DecodeAsError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    View(#[from] ViewError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    MissingCaps(#[from] MissingCaps),
    #[error(transparent)]
    DropCaps(#[from] DropFailed),
    #[error(transparent)]
    L2(#[from] L2Error),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Signals(#[from] SignalError),
    #[error(transparent)]
    Bpf(#[from] BpfError),
    #[error(transparent)]
    Term(#[from] TermError),
    #[error(transparent)]
    Mcast(#[from] McastError),
    #[error(transparent)]
    Station(#[from] BadStation),
    #[error(transparent)]
    Cidr(#[from] BadCidr),
    /// Namespaces left out of a view for lack of privilege: the rows shown are real,
    /// but the job (every namespace) was not done.
    #[error(
        "{} not shown: entering {} needs CAP_SYS_ADMIN (run netkit as root or with sudo)",
        plural(*.0 as u64, "namespace", "namespaces"),
        if *.0 == 1 { "it" } else { "them" }
    )]
    NamespacesDenied(usize),
    /// `route get ADDR` in one namespace that has no route there.
    #[error("no route to {to}: {why}")]
    NoRoute { to: String, why: String },
    /// Arguments clap takes as free words but netkit cannot use (`ss` filter words,
    /// `ss -A unix`): a usage error.
    #[error("{0}")]
    Usage(String),
    /// `route --table` that clap's check let through but is still not a table.
    #[error("bad --table: {0}")]
    BadTable(String),
    /// `mcast check`: the plan has something to fix (the report above says what).
    #[error("the plan needs fixing: {}", plan_findings(*collisions, *duplicates, *bad_lines))]
    PlanFindings {
        collisions: usize,
        duplicates: usize,
        bad_lines: usize,
    },
    /// `l2trace`: the trace stopped, in Cisco's words. Already on standard output
    /// (the Cisco lines, or the JSON's `message`), so [`report`] does not repeat it.
    #[error("trace aborted: {0}")]
    TraceAborted(String),
    #[error("Arp failed for {side} {ip}")]
    ArpFailed {
        side: &'static str,
        ip: std::net::Ipv4Addr,
    },
    /// `top` without --json where stdout is no terminal.
    #[error(
        "top's screen needs a terminal and stdout is not one: run `netkit top --json` to \
         print one JSON object per interval instead (add --count N to stop after N)"
    )]
    NoTerminal,
    /// `top --json`: every capture stopped.
    #[error("nothing left to watch: every capture stopped (see the warnings above)")]
    NothingLeftToWatch,
    /// A capture whose very first record is damaged: nothing in it could be read.
    #[error("{path}: nothing readable: {why}")]
    NothingReadable { path: String, why: String },
    /// Input files that could not be read, each with its reason (one line each),
    /// while the others were reported.
    #[error("{}", .0.join("; "))]
    Unreadable(Vec<String>),
    /// A file netkit was asked to write or read besides the captures.
    #[error("{path}: {why}")]
    File { path: String, why: String },
    /// Writing an `--export` file failed.
    #[error("cannot write the export: {0}")]
    Export(io::Error),
    /// Writing the output failed (a closed pipe is not an error: see [`report`]).
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

/// "1 MAC collision, 2 bad lines": what `mcast check` found, zeros left out.
fn plan_findings(collisions: usize, duplicates: usize, bad_lines: usize) -> String {
    [
        (collisions, "MAC collision", "MAC collisions"),
        (duplicates, "duplicate group", "duplicate groups"),
        (bad_lines, "bad line", "bad lines"),
    ]
    .iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| plural(*n as u64, one, many))
    .collect::<Vec<_>>()
    .join(", ")
}

impl Error {
    /// The exit status this error ends the program with.
    pub fn exit_status(&self) -> u8 {
        match self {
            // Usage errors: arguments clap could not check itself.
            Error::Exec(ExecError::NoCommand)
            | Error::BadTable(_)
            | Error::Usage(_)
            | Error::BadArgument(_)
            | Error::DecodeAs(_) => 2,
            _ => 1,
        }
    }
}

pub type Result<T = ()> = std::result::Result<T, Error>;

/// Ends the program: prints the one line for a failure and picks the exit status.
pub fn report(result: Result) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`netkit pcap show f | head`): nothing left to say.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e @ Error::TraceAborted(_)) => ExitCode::from(e.exit_status()),
        // One line per file, each naming it, so a reader (or grep) sees every one.
        Err(Error::Unreadable(lines)) => {
            for line in lines {
                eprintln!("netkit: {line}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("netkit: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

/// A warning about work that was still done: one line on stderr.
pub fn warn(what: impl std::fmt::Display) {
    eprintln!("netkit: warning: {what}");
}

/// A hint that is not a warning (nothing went wrong): one line on stderr, so that
/// stdout stays what scripts redirect.
pub fn warn_hint(what: impl std::fmt::Display) {
    eprintln!("netkit: {what}");
}
