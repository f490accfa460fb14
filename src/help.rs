//! What `--help` (long form) and the man pages add to the clap tree: examples per
//! command, the exit statuses, and `top`'s keys. Kept here, beside the tree rather than
//! in each subcommand's arguments, so one table says what every page shows; the man
//! pages (tests/cli.rs renders them) turn each `Heading:` block into a section.

use crate::cli::Cli;
use clap::CommandFactory;
use netkit_cmds::top::view::tui::KEY_BINDINGS;

/// The exit statuses (docs/CLI.md, src/exit.rs), for `netkit --help` and every man page.
pub const EXIT_STATUS: &str =
    "  0  done (also when the reader of the output went away: netkit ... | head)
  1  the job could not be done, or was done only in part (unreadable file, no
     privilege, unknown namespace or table, trace aborted, nothing left to watch);
     one line on stderr says what failed and what to do
  2  usage error: a bad option or argument (clap's, a bad --decode-as or -Y
     filter, an --interval out of range, a malformed --table, ns exec without a
     command)";

/// Examples per command, by the command's path (subcommand names after `netkit`).
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "netkit pcap analyze trace.pcapng",
            "netkit ss -tanp --all-netns",
            "netkit top -N ns-VRF1",
        ],
    ),
    (
        "pcap analyze",
        &[
            "netkit pcap analyze trace.pcapng",
            "netkit pcap analyze --json a.pcap b.pcap",
            "netkit pcap analyze --decode-as udp.port=8472:vxlan overlay.pcap",
            "netkit pcap analyze --export flows.ndjson --export-notices notices.ndjson trace.pcap.gz",
            "netkit pcap analyze --merge 'rotated/trace.pcap*'",
            "netkit pcap analyze --jobs 2 captures/",
            "netkit pcap analyze --html report.html --graph-stream 3 trace.pcap",
        ],
    ),
    (
        "pcap compare",
        &[
            "netkit pcap compare client-side.pcap server-side.pcap",
            "netkit pcap compare --json before-nat.pcap after-nat.pcap",
        ],
    ),
    (
        "pcap graph",
        &[
            "netkit pcap graph trace.pcap --stream 3 --kind tsg --svg stream3.svg",
            "netkit pcap graph trace.pcap --stream 3 --kind rtt --csv",
            "netkit pcap graph trace.pcap --kind throughput --interval 0.1 --csv",
        ],
    ),
    (
        "pcap show",
        &[
            "netkit pcap show -c 20 trace.pcap",
            "netkit pcap show --json trace.pcap | jq .",
            "netkit pcap show -r trace.pcap -Y 'tcp.stream eq 3 && tcp.analysis.retransmission'",
            "netkit pcap show -Y 'http.response.code >= 400 || websocket' a.pcap b.pcap",
            "netkit pcap show --merge -Y 'tcp.flags.reset == 1' 'trace.pcap*'",
            "netkit pcap show --tls-keylog sslkeys.log -Y 'tcp.port == 443' https.pcap",
        ],
    ),
    ("mcast map", &["netkit mcast map 239.1.1.1 ff02::1:ff00:1"]),
    (
        "mcast reverse",
        &[
            "netkit mcast reverse 01:00:5e:01:01:01",
            "netkit mcast reverse 0000.0c07.ac0a",
        ],
    ),
    (
        "mcast check",
        &[
            "netkit mcast check 239.1.1.1 224.1.1.1",
            "netkit mcast check --plan groups.txt",
        ],
    ),
    (
        "mcast groups",
        &[
            "netkit mcast groups --all-netns",
            "netkit mcast groups -N ns-VRF1 --json",
        ],
    ),
    (
        "ns list",
        &["netkit ns list", "netkit ns list --json | jq -r '.[].name'"],
    ),
    (
        "ns exec",
        &[
            "netkit ns exec VRF1 -- ping -c 3 10.0.0.1",
            "netkit ns exec host -- ip -br a",
        ],
    ),
    (
        "ss",
        &[
            "netkit ss -tanp",
            "netkit ss -tlp --all-netns",
            "netkit ss -N ns-VRF1 --json",
        ],
    ),
    (
        "addr",
        &[
            "netkit addr",
            "netkit addr --all-netns -4",
            "netkit addr -N ns-VRF1 --json",
        ],
    ),
    (
        "arp",
        &[
            "netkit arp -n",
            "netkit arp -4 --all-netns",
            "netkit arp -N host --json",
        ],
    ),
    (
        "route",
        &[
            "netkit route -N ns-VRF1 --table all",
            "netkit route --all-netns --table 1001",
            "netkit route get 10.0.0.1 --all-netns",
        ],
    ),
    (
        "route get",
        &[
            "netkit route get 8.8.8.8",
            "netkit route get 2001:db8::1 -N ns-VRF1 --json",
        ],
    ),
    (
        "l2trace",
        &[
            "netkit l2trace 0200.0000.0001 0200.0000.0002",
            "netkit l2trace 10.0.0.1 10.0.0.2 --vlan 20 --via 192.0.2.1",
        ],
    ),
    (
        "l2trace agent",
        &["netkit l2trace agent --bridge br0 --allow 10.0.0.0/8"],
    ),
    (
        "neighbors",
        &[
            "netkit neighbors -i eth0 --wait 61",
            "netkit neighbors -N ns-VRF1 --json",
        ],
    ),
    (
        "top",
        &[
            "netkit top",
            "netkit top -N ns-VRF1 -i eth0",
            "netkit top --all-netns --json --interval 2 --count 10",
            "netkit top --all-netns --container web",
        ],
    ),
    (
        "watch",
        &[
            "netkit watch -N ns-VRF1",
            "netkit watch --all-netns --json -i eth1",
            "netkit watch -N ns-VRF1 -f 'tcp port 443' --write evidence/",
            "netkit watch -N ns-VRF1 --duration 60 --html watch.html",
        ],
    ),
    (
        "drops",
        &[
            "netkit drops",
            "netkit drops --all-netns -i eth0",
            "netkit drops -N ns-VRF1 --json --interval 5 --count 12",
        ],
    ),
    (
        "completions",
        &[
            "netkit completions bash > ~/.local/share/bash-completion/completions/netkit",
            "netkit completions zsh > ~/.zfunc/_netkit",
            "netkit completions fish > ~/.config/fish/completions/netkit.fish",
        ],
    ),
];

/// The long-help epilogue of the command at `path`, when it has one.
fn epilogue(path: &str) -> Option<String> {
    let mut blocks = Vec::new();
    if let Some((_, lines)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        let lines: Vec<String> = lines.iter().map(|l| format!("  {l}")).collect();
        blocks.push(format!("Examples:\n{}", lines.join("\n")));
    }
    if path == "pcap show" {
        blocks.push(display_filter_help());
    }
    if path == "top" {
        let keys: Vec<String> = KEY_BINDINGS
            .iter()
            .map(|(k, what)| format!("  {k:<14}{what}"))
            .collect();
        blocks.push(format!("Key bindings:\n{}", keys.join("\n")));
    }
    if path.is_empty() {
        blocks.push(format!("Exit status:\n{EXIT_STATUS}"));
    }
    (!blocks.is_empty()).then(|| blocks.join("\n\n"))
}

/// What `-Y` takes, for `pcap show --help` and its man page.
fn display_filter_help() -> String {
    let mut lines = vec![
        // No blank line inside: the man page makes a section of each block.
        "  Wireshark's syntax, for these fields and protocol names:".to_string(),
    ];
    let mut line = String::from(" ");
    for name in netkit_cmds::pcap::show::filter::supported_fields().split(", ") {
        if line.len() + name.len() > 78 {
            lines.push(std::mem::replace(&mut line, String::from(" ")));
        }
        line.push(' ');
        line.push_str(name);
    }
    lines.push(line);
    lines.push(
        "  Operators: == != < > <= >= (eq ne lt gt le ge), contains, in {a b}, && || !".to_string(),
    );
    lines.push("  (and or not), parentheses. Another field is a usage error (exit 2).".to_string());
    format!("Display filter (-Y):\n{}", lines.join("\n"))
}

fn add_epilogues(cmd: clap::Command, path: &str) -> clap::Command {
    let mut cmd = match epilogue(path) {
        Some(text) => cmd.after_long_help(text),
        None => cmd,
    };
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |s| add_epilogues(s, &sub_path));
    }
    cmd
}

/// The clap tree with its examples, exit statuses and key bindings: what the binary
/// parses with, and what completions and man pages are made from.
pub fn command() -> clap::Command {
    add_epilogues(Cli::command(), "")
}

/// Namespace names for the shells: `host` (the root namespace) and the names in
/// /run/netns, read when the user presses Tab (names come and go).
const BASH_NETNS: &str = "
_netkit_netns_names() {
    echo host
    command ls -1 /run/netns 2>/dev/null
}
";
const ZSH_NETNS: &str = "
_netkit_netns() {
    local -a names
    names=(host ${(f)\"$(command ls -1 /run/netns 2>/dev/null)\"})
    _describe -t namespaces 'network namespace' names
}
";
const FISH_NETNS: &str = "
function __fish_netkit_netns
    echo host
    command ls -1 /run/netns 2>/dev/null
end
";

/// Where each shell looks for a completion script, for the hint on stderr.
pub fn install_hint(shell: clap_complete::Shell) -> String {
    use clap_complete::Shell;
    let path = match shell {
        Shell::Bash => "~/.local/share/bash-completion/completions/netkit",
        Shell::Zsh => "a directory of your $fpath as _netkit (e.g. ~/.zfunc/_netkit)",
        Shell::Fish => "~/.config/fish/completions/netkit.fish",
        Shell::Elvish => "~/.config/elvish/lib/netkit.elv (then `use netkit` in rc.elv)",
        Shell::PowerShell => "a file your $PROFILE dot-sources",
        _ => "where your shell loads completions from",
    };
    format!("to install: netkit completions {shell} > {path}; then start a new shell")
}

/// The completion script for `shell`: clap's, with namespace names offered after
/// `--netns`/`-N` (bash, zsh, fish) instead of file names.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    use clap_complete::Shell;
    let mut buf = Vec::new();
    // Rendered to memory first: clap_complete panics when its writer fails, and a
    // closed pipe must not panic.
    clap_complete::generate(shell, &mut command(), "netkit", &mut buf);
    let script = String::from_utf8_lossy(&buf).into_owned();
    let script = match shell {
        Shell::Bash => {
            let mut s = script;
            for flag in ["--netns", "-N"] {
                s = s.replace(
                    &format!("{flag})\n                    COMPREPLY=($(compgen -f \"${{cur}}\"))"),
                    &format!(
                        "{flag})\n                    COMPREPLY=($(compgen -W \"$(_netkit_netns_names)\" -- \"${{cur}}\"))"
                    ),
                );
            }
            format!("{BASH_NETNS}\n{s}")
        }
        Shell::Zsh => script
            .replace(":NS:_default'", ":NS:_netkit_netns'")
            .replacen(
                "autoload -U is-at-least\n",
                &format!("autoload -U is-at-least\n{ZSH_NETNS}"),
                1,
            ),
        Shell::Fish => {
            let lines: Vec<String> = script
                .lines()
                .map(|l| {
                    if l.contains(" -l netns ") && l.ends_with(" -r") {
                        format!("{l} -f -a \"(__fish_netkit_netns)\"")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            format!("{FISH_NETNS}\n{}\n", lines.join("\n"))
        }
        _ => script,
    };
    script.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits an example as a POSIX shell would for the quoting the examples use:
    /// blanks separate words, single and double quotes group them.
    fn shell_words(line: &str) -> Vec<String> {
        let (mut words, mut word, mut quote, mut in_word) = (vec![], String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, c) if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    #[test]
    fn examples_split_as_the_shell_splits_them() {
        assert_eq!(
            shell_words("netkit watch -f 'tcp port 443' -Y \"a b\" x ''"),
            [
                "netkit",
                "watch",
                "-f",
                "tcp port 443",
                "-Y",
                "a b",
                "x",
                ""
            ]
        );
    }

    #[test]
    fn every_example_names_a_command_that_exists() {
        let cmd = command();
        for (path, lines) in EXAMPLES {
            let mut c = &cmd;
            for part in path.split_whitespace() {
                c = c
                    .find_subcommand(part)
                    .unwrap_or_else(|| panic!("no command {path}"));
            }
            assert!(c.get_after_long_help().is_some(), "{path}");
            for l in *lines {
                assert!(l.starts_with(format!("netkit {path}").trim_end()), "{l}");
                // What the shell would hand netkit: the words before a pipe or redirect,
                // quotes removed (`-f 'tcp port 443'` is one argument).
                let words: Vec<String> = shell_words(l)
                    .into_iter()
                    .take_while(|w| w != "|" && w != ">")
                    .collect();
                if let Err(e) = command().try_get_matches_from(&words) {
                    panic!("example '{l}' does not parse: {e}");
                }
            }
        }
    }
}
