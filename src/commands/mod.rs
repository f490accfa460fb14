//! One module per subcommand: its clap arguments and the glue from engine to view.

pub mod l2trace;
pub mod mcast;
pub mod ns;
pub mod pcap;
pub mod top;
pub mod views;

use std::io;

/// Why a subcommand failed. `Failed` is the one-line message for the user (exit 1);
/// `Io` on stdout is usually a closed pipe (`netkit ... | head`), which is not an error.
#[derive(Debug)]
pub enum CmdError {
    Failed(String),
    Io(io::Error),
}

impl From<io::Error> for CmdError {
    fn from(e: io::Error) -> Self {
        CmdError::Io(e)
    }
}

impl From<String> for CmdError {
    fn from(e: String) -> Self {
        CmdError::Failed(e)
    }
}

pub type CmdResult = Result<(), CmdError>;
